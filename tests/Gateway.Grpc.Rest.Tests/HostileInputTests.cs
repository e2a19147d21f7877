using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Gateway.Grpc.Rest.Tests.Infrastructure;
using Gateway.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;

namespace Gateway.Grpc.Rest.Tests;

/// <summary>
/// Hostile and oversized input on both doors of the gateway as a newcomer runs it (embedded
/// default, default limits): every case gets a 4xx in the door's own shape naming what to fix
/// (OpenAI error JSON on REST, INVALID_ARGUMENT with the field on gRPC), and the next normal call
/// on the same door still succeeds.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class HostileInputTests(GatewayFixture gateway)
{
    private const string Ok = """{"model":"sim-small","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}""";

    private sealed record RestCase(Func<HttpRequestMessage> Request, int Status, string? Param, string Fragment, string? Code = null);

    private static HttpRequestMessage Post(byte[] body, string contentType = "application/json")
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = content };
    }

    private static HttpRequestMessage Post(string body) => Post(Encoding.UTF8.GetBytes(body));

    /// <summary>A body with raw bytes (invalid UTF-8) spliced between two pieces of JSON text.</summary>
    private static HttpRequestMessage Splice(string before, byte[] raw, string after)
        => Post([.. Encoding.UTF8.GetBytes(before), .. raw, .. Encoding.UTF8.GetBytes(after)]);

    /// <summary>A valid request with <paramref name="extra"/> (",\"key\":value...") added at the top level.</summary>
    private static HttpRequestMessage With(string extra) => Post("""{"model":"sim-small","messages":[{"role":"user","content":"x"}]""" + extra + "}");

    private static HttpRequestMessage WithMessage(string message) => Post("""{"model":"sim-small","messages":[""" + message + "]}");

    private static HttpRequestMessage WithTools(string tools) => With(",\"tools\":" + tools);

    private static string Tool(string name = "f", string parameters = """{"type":"object","properties":{}}""")
        => "{\"type\":\"function\",\"function\":{\"name\":\"" + name + "\",\"parameters\":" + parameters + "}}";

    private static string Repeat(string item, int count) => string.Join(",", Enumerable.Repeat(item, count));

    private static readonly Dictionary<string, RestCase> RestCases = new()
    {
        // Invalid UTF-8 anywhere: the issue's FF FE, and the other ways bytes fail to be UTF-8.
        ["utf8_ff_fe_in_content"] = new(() => Splice("""{"model":"sim-small","messages":[{"role":"user","content":"a""", [0xFF, 0xFE], "b\"}]}"), 400, "messages[0].content", "not valid UTF-8", "invalid_encoding"),
        ["utf8_in_model"] = new(() => Splice("""{"model":"sim-""", [0xC3], "\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"), 400, "model", "not valid UTF-8", "invalid_encoding"),
        ["utf8_truncated_sequence_in_tool_description"] = new(() => Splice("""{"model":"sim-small","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","description":"d""", [0xE2, 0x82], "\"}}]}"), 400, "tools[0].function.description", "not valid UTF-8", "invalid_encoding"),
        ["utf8_overlong_encoding_in_second_message"] = new(() => Splice("{\"model\":\"sim-small\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"", [0xC0, 0xAF], "\"}]}"), 400, "messages[1].content", "not valid UTF-8", "invalid_encoding"),
        ["utf8_encoded_surrogate_in_part_text"] = new(() => Splice("{\"model\":\"sim-small\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"", [0xED, 0xA0, 0x80], "\"}]}]}"), 400, "messages[0].content[0].text", "not valid UTF-8", "invalid_encoding"),
        ["utf8_in_metadata_key"] = new(() => Splice("""{"model":"sim-small","messages":[{"role":"user","content":"x"}],"metadata":{"k""", [0xFF], "\":\"v\"}}"), 400, null, "not valid UTF-8", "invalid_encoding"),
        ["unpaired_surrogate_escape_in_content"] = new(() => Post("""{"model":"sim-small","messages":[{"role":"user","content":"a\ud800b"}]}"""), 400, "messages[0].content", "not valid Unicode"),
        ["unpaired_surrogate_escape_in_key"] = new(() => With(""","metadata":{"\udc00":"v"}"""), 400, null, "not valid Unicode"),

        // Not JSON, not an object, no body.
        ["malformed_json"] = new(() => Post("""{"model":"sim-small","messages":["""), 400, null, "not valid JSON", "invalid_json"),
        ["empty_body"] = new(() => Post(""), 400, null, "empty", "invalid_json"),
        ["body_is_an_array"] = new(() => Post("[]"), 400, null, "must be a JSON object"),
        ["nesting_deeper_than_64"] = new(() => WithTools("[" + Tool(parameters: string.Concat(Enumerable.Repeat("{\"a\":", 70)) + "1" + new string('}', 70)) + "]"), 400, null, "not valid JSON", "invalid_json"),
        ["multipart_body"] = new(() => Post(Encoding.UTF8.GetBytes("--x\r\n\r\n--x--"), "multipart/form-data; boundary=x"), 415, null, "not supported", "unsupported_media_type"),

        // Wrong JSON types at every depth.
        ["message_not_an_object"] = new(() => Post("""{"model":"sim-small","messages":[1]}"""), 400, "messages[0]", "expected a message object"),
        ["role_not_a_string"] = new(() => WithMessage("""{"role":1,"content":"x"}"""), 400, "messages[0].role", "expected a string"),
        ["content_part_not_an_object"] = new(() => WithMessage("""{"role":"user","content":[1]}"""), 400, "messages[0].content[0]", "expected a content part object"),
        ["content_part_text_is_a_number"] = new(() => WithMessage("""{"role":"user","content":[{"type":"text","text":5}]}"""), 400, "messages[0].content[0].text", "expected a string"),
        ["content_part_unknown_type"] = new(() => WithMessage("""{"role":"user","content":[{"type":"video","video":{}}]}"""), 400, "messages[0].content[0].type", "not supported"),
        ["image_url_is_a_string"] = new(() => WithMessage("""{"role":"user","content":[{"type":"image_url","image_url":"https://example.com/a.png"}]}"""), 400, "messages[0].content[0].image_url", "expected an object with url"),
        ["tool_calls_is_an_object"] = new(() => WithMessage("""{"role":"assistant","content":null,"tool_calls":{}}"""), 400, "messages[0].tool_calls", "expected an array of tool calls"),
        ["tool_call_arguments_is_a_number"] = new(() => WithMessage("""{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":7}}]}"""), 400, "messages[0].tool_calls[0].function.arguments", "expected a string"),
        ["tools_is_an_object"] = new(() => WithTools("{}"), 400, "tools", "expected an array of tools"),
        ["stream_options_is_a_string"] = new(() => With(""","stream_options":"usage" """), 400, "stream_options", "expected an object"),

        // Duplicate keys where they decide what the request means.
        ["duplicate_model_key"] = new(() => Post("""{"model":"sim-small","model":"sim-large","messages":[{"role":"user","content":"x"}]}"""), 400, "model", "appears twice"),
        ["duplicate_role_key"] = new(() => WithMessage("""{"role":"user","role":"system","content":"x"}"""), 400, "messages[0].role", "appears twice"),
        ["duplicate_tool_function_name_key"] = new(() => WithTools("""[{"type":"function","function":{"name":"a","name":"b"}}]"""), 400, "tools[0].function.name", "appears twice"),
        ["duplicate_tool_choice_function_name_key"] = new(() => Post("{\"model\":\"sim-small\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[" + Tool("f") + "," + Tool("g") + "],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\",\"name\":\"g\"}}}"), 400, "tool_choice.function.name", "appears twice"),
        ["duplicate_key_inside_tool_schema"] = new(() => WithTools("[" + Tool(parameters: """{"type":"object","properties":{"a":{"type":"string"},"a":{"type":"number"}}}""") + "]"), 400, "tools[0].function.parameters.properties.a", "appears twice"),
        ["duplicate_metadata_key"] = new(() => With(""","metadata":{"k":"1","k":"2"}"""), 400, "metadata.k", "appears twice"),

        // Unknown roles.
        ["unknown_role"] = new(() => WithMessage("""{"role":"robot","content":"x"}"""), 400, "messages[0].role", "'robot' is not a role"),
        ["deprecated_function_role"] = new(() => WithMessage("""{"role":"function","name":"f","content":"x"}"""), 400, "messages[0].role", "deprecated"),

        // Bad tool schemas.
        ["tool_type_not_function"] = new(() => WithTools("""[{"type":"retrieval"}]"""), 400, "tools[0].type", "only 'function' tools"),
        ["tool_parameters_not_an_object"] = new(() => WithTools("[" + Tool(parameters: "[]") + "]"), 400, "tools[0].function.parameters", "expected a JSON object"),
        ["tool_parameters_type_array"] = new(() => WithTools("[" + Tool(parameters: """{"type":"array"}""") + "]"), 400, "tools[0].parameters.type", "must be \"object\""),
        ["tool_parameters_required_not_a_list"] = new(() => WithTools("[" + Tool(parameters: """{"type":"object","required":"a"}""") + "]"), 400, "tools[0].parameters.required", "array of argument names"),
        ["tool_name_with_spaces"] = new(() => WithTools("[" + Tool(name: "get weather!") + "]"), 400, "tools[0].name", "letters, digits"),
        ["tool_names_duplicated"] = new(() => WithTools("[" + Tool() + "," + Tool() + "]"), 400, "tools[1].name", "must be unique"),
        ["tool_choice_unknown_function"] = new(() => Post("""{"model":"sim-small","messages":[{"role":"user","content":"x"}],"tools":[""" + Tool() + """],"tool_choice":{"type":"function","function":{"name":"g"}}}"""), 400, "tool_choice.function_name", "not one of the request's tools"),

        // Base64 that does not decode.
        ["input_audio_bad_base64"] = new(() => WithMessage("""{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"not base64!!","format":"wav"}}]}"""), 400, "messages[0].content[0].input_audio.data", "not valid base64"),
        ["image_data_url_bad_base64"] = new(() => WithMessage("""{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,@@@@"}}]}"""), 400, "messages[0].content[0].image_url.url", "does not decode"),
        ["image_url_not_http"] = new(() => WithMessage("""{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://example.com/a.png"}}]}"""), 400, "messages[0].content[0].image_url.url", "not an http(s) or data: URL"),

        // Numbers out of range.
        ["temperature_overflows_double"] = new(() => With(""","temperature":1e400"""), 400, "temperature", "out of range"),
        ["temperature_above_2"] = new(() => With(""","temperature":3"""), 400, "temperature", "between 0 and 2"),
        ["top_p_negative"] = new(() => With(""","top_p":-0.5"""), 400, "top_p", "between 0 and 1"),
        ["max_tokens_beyond_int32"] = new(() => With(""","max_tokens":1e12"""), 400, "max_tokens", "out of range"),
        ["max_tokens_negative"] = new(() => With(""","max_tokens":-1"""), 400, "max_tokens", "at least 1"),
        ["seed_beyond_int64"] = new(() => With(""","seed":100000000000000000000000"""), 400, "seed", "out of range"),
        ["frequency_penalty_above_2"] = new(() => With(""","frequency_penalty":5"""), 400, "frequency_penalty", "between -2 and 2"),
        ["number_in_tool_schema_overflows"] = new(() => WithTools("[" + Tool(parameters: """{"type":"object","maximum":1e400}""") + "]"), 400, "tools[0].function.parameters.maximum", "out of range"),
        ["five_stop_sequences"] = new(() => With(""","stop":["a","b","c","d","e"]"""), 400, "stop", "at most 4"),

        // Size limits (defaults).
        ["messages_over_2048"] = new(() => Post("""{"model":"sim-small","messages":[""" + Repeat("""{"role":"user","content":""}""", 2049) + "]}"), 400, "messages", "requestLimits:maxMessages"),
        ["tools_over_128"] = new(() => WithTools("[" + string.Join(",", Enumerable.Range(0, 129).Select(i => Tool("f" + i))) + "]"), 400, "tools", "requestLimits:maxTools"),
        ["metadata_over_16_entries"] = new(() => With(",\"metadata\":{" + string.Join(",", Enumerable.Range(0, 17).Select(i => $"\"k{i}\":\"v\"")) + "}"), 400, "metadata", "requestLimits:maxMetadataEntries"),
        ["metadata_value_over_512"] = new(() => With(",\"metadata\":{\"k\":\"" + new string('v', 600) + "\"}"), 400, "metadata.k", "at most 512"),
        ["prompt_over_4m_characters"] = new(() => WithMessage("{\"role\":\"user\",\"content\":\"" + new string('a', 4_000_100) + "\"}"), 400, "messages", "requestLimits:maxPromptChars"),
        ["ten_megabyte_prompt"] = new(() => WithMessage("{\"role\":\"user\",\"content\":\"" + string.Concat(Enumerable.Repeat("word ", 2_000_000)) + "\"}"), 400, "messages", "requestLimits:maxPromptChars"),
        ["body_over_16_mib_announced"] = new(() =>
        {
            var request = Post(new byte[(16 * 1024 * 1024) + 1]);
            request.Headers.ExpectContinue = true;
            return request;
        }, 413, null, "requestLimits:maxBodyBytes", "request_too_large"),
        ["headers_over_32_kib"] = new(() =>
        {
            var request = Post(Ok);
            request.Headers.Add("x-padding", new string('p', 33 * 1024));
            return request;
        }, 431, null, "requestLimits:maxHeaderBytes", "headers_too_large"),

        // The context window, checked before dispatch: sim-small holds 16384 tokens.
        ["prompt_past_context_window"] = new(() => WithMessage("{\"role\":\"user\",\"content\":\"" + string.Concat(Enumerable.Repeat("word ", 40_000)) + "\"}"), 400, "messages", "holds 16384 tokens", "context_length_exceeded"),
        ["max_tokens_past_context_window"] = new(() => With(""","max_tokens":20000"""), 400, "messages", "20000 for max_tokens", "context_length_exceeded"),
    };

    public static TheoryData<string> RestCaseNames() => [.. RestCases.Keys];

    [Theory]
    [MemberData(nameof(RestCaseNames))]
    public async Task Rest_HostileInput_4xxInOpenAiShape_ThenNormalCallSucceeds(string name)
    {
        var expected = RestCases[name];
        var simulatorStarted = gateway.SimulatorStats.Started;
        using (var request = expected.Request())
        using (var response = await gateway.Http.SendAsync(request))
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(expected.Status == (int)response.StatusCode, $"{name}: expected {expected.Status}, got {(int)response.StatusCode}: {body}");
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            Assert.True(response.Headers.Contains("x-request-id"), name + ": no x-request-id");
            var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
            var message = error.GetProperty("message").GetString()!;
            Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
            Assert.True(error.TryGetProperty("code", out var code));
            Assert.True(error.TryGetProperty("param", out var param));
            Assert.Contains(expected.Fragment, message, StringComparison.Ordinal);
            if (expected.Param is not null)
            {
                Assert.Equal(expected.Param, param.GetString());
                Assert.StartsWith(expected.Param + ":", message, StringComparison.Ordinal);
            }

            if (expected.Code is not null)
            {
                Assert.Equal(expected.Code, code.GetString());
            }
        }

        // Nothing was sent upstream, and the door still serves.
        Assert.Equal(simulatorStarted, gateway.SimulatorStats.Started);
        await AssertRestServesAsync();
    }

    [Fact]
    public async Task Rest_ChunkedBodyOverTheLimit_413BeforeItIsReadWhole()
    {
        // No Content-Length: the gateway reads until the limit, then answers without the rest.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new EndlessJsonContent(),
        };
        request.Headers.TransferEncodingChunked = true;
        HttpResponseMessage? response = null;
        try
        {
            response = await gateway.Http.SendAsync(request);
        }
        catch (HttpRequestException)
        {
            // The gateway closed the connection while the client was still sending: acceptable
            // for an HTTP/1.1 client that does not read while it writes; the answer is checked below.
        }

        if (response is not null)
        {
            using (response)
            {
                Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
                var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
                Assert.Equal("request_too_large", error.GetProperty("code").GetString());
            }
        }

        Assert.True(EndlessJsonContent.LastSent < 64L * 1024 * 1024, $"the client sent {EndlessJsonContent.LastSent} bytes: the gateway kept reading");
        await AssertRestServesAsync();
    }

    [Theory]
    [InlineData("utf8", "not valid UTF-8")]
    [InlineData("surrogate", "not valid Unicode")]
    public async Task Embeddings_BadText_400InOpenAiShape(string kind, string fragment)
    {
        byte[] body = kind == "utf8"
            ? [.. "{\"model\":\"sim-small\",\"input\":\"a"u8, 0xFF, .. "\"}"u8]
            : """{"model":"sim-small","input":["ok","\ud800"]}"""u8.ToArray();
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await gateway.Http.PostAsync("/v1/embeddings", content);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, text);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Contains(fragment, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        await AssertRestServesAsync();
    }

    private async Task AssertRestServesAsync()
    {
        using var response = await gateway.Http.PostAsync("/v1/chat/completions", new StringContent(Ok, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, "the next normal call failed: " + body);
        var content = JsonDocument.Parse(body).RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
        Assert.False(string.IsNullOrEmpty(content));
    }

    // ---------------------------------------------------------------- gRPC

    private sealed record GrpcCase(Func<CompletionRequest> Request, StatusCode Status, string Fragment, string? Kind = null, Metadata? Headers = null);

    private static CompletionRequest Valid(Action<CompletionRequest>? change = null)
    {
        var request = new CompletionRequest { Model = "sim-small", MaxTokens = 4, Messages = { new Message { Role = Role.User, Content = "x" } } };
        change?.Invoke(request);
        return request;
    }

    private static Tool ToolNamed(string name, Struct? parameters = null) => new() { Name = name, Parameters = parameters ?? new Struct() };

    private static readonly Dictionary<string, GrpcCase> GrpcCases = new()
    {
        ["role_unspecified"] = new(() => Valid(r => r.Messages[0].Role = Role.Unspecified), StatusCode.InvalidArgument, "messages[0].role: must be set"),
        ["role_out_of_enum"] = new(() => Valid(r => r.Messages[0].Role = (Role)99), StatusCode.InvalidArgument, "messages[0].role: 99 is not a role"),
        ["no_messages"] = new(() => Valid(r => r.Messages.Clear()), StatusCode.InvalidArgument, "messages: must contain at least one message"),
        ["temperature_nan"] = new(() => Valid(r => r.Temperature = double.NaN), StatusCode.InvalidArgument, "temperature: must be between 0 and 2"),
        ["temperature_infinite"] = new(() => Valid(r => r.Temperature = double.PositiveInfinity), StatusCode.InvalidArgument, "temperature: must be between 0 and 2"),
        ["max_tokens_negative"] = new(() => Valid(r => r.MaxTokens = -5), StatusCode.InvalidArgument, "max_tokens: must be at least 1"),
        ["empty_content_part"] = new(() => Valid(r => r.Messages[0].Parts.Add(new ContentPart())), StatusCode.InvalidArgument, "messages[0].parts[0]: is empty"),
        ["image_without_source"] = new(() => Valid(r => r.Messages[0].Parts.Add(new ContentPart { Image = new ImagePart() })), StatusCode.InvalidArgument, "messages[0].parts[0].image: set url"),
        ["image_data_url_bad_base64"] = new(() => Valid(r => r.Messages[0].Parts.Add(new ContentPart { Image = new ImagePart { Url = "data:image/png;base64,%%%" } })), StatusCode.InvalidArgument, "messages[0].parts[0].image.url: the base64 data"),
        ["audio_without_format"] = new(() => Valid(r => r.Messages[0].Parts.Add(new ContentPart { Audio = new AudioPart { Data = ByteString.CopyFromUtf8("RIFF") } })), StatusCode.InvalidArgument, "messages[0].parts[0].audio.format: is required"),
        ["tool_name_invalid"] = new(() => Valid(r => r.Tools.Add(ToolNamed("get weather!"))), StatusCode.InvalidArgument, "tools[0].name:"),
        ["tool_names_duplicated"] = new(() => Valid(r => r.Tools.Add(new[] { ToolNamed("f"), ToolNamed("f") })), StatusCode.InvalidArgument, "tools[1].name: 'f' is already"),
        ["tool_parameters_type_string"] = new(() => Valid(r => r.Tools.Add(ToolNamed("f", new Struct { Fields = { ["type"] = Value.ForString("string") } }))), StatusCode.InvalidArgument, "tools[0].parameters.type: must be \"object\""),
        ["messages_over_2048"] = new(() => Valid(r => r.Messages.Add(Enumerable.Range(0, 2048).Select(_ => new Message { Role = Role.User, Content = "" }))), StatusCode.InvalidArgument, "requestLimits:maxMessages"),
        ["tools_over_128"] = new(() => Valid(r => r.Tools.Add(Enumerable.Range(0, 129).Select(i => ToolNamed("f" + i)))), StatusCode.InvalidArgument, "requestLimits:maxTools"),
        ["metadata_over_16"] = new(() => Valid(r => r.Metadata.Add(Enumerable.Range(0, 17).ToDictionary(i => "k" + i, _ => "v"))), StatusCode.InvalidArgument, "requestLimits:maxMetadataEntries"),
        ["metadata_key_over_64"] = new(() => Valid(r => r.Metadata[new string('k', 65)] = "v"), StatusCode.InvalidArgument, "must be 1 to 64 characters"),
        ["prompt_over_4m_characters"] = new(() => Valid(r => r.Messages[0].Content = new string('a', 4_000_100)), StatusCode.InvalidArgument, "requestLimits:maxPromptChars"),
        ["prompt_past_context_window"] = new(() => Valid(r => r.Messages[0].Content = string.Concat(Enumerable.Repeat("word ", 40_000))), StatusCode.InvalidArgument, "holds 16384 tokens", "context_length_exceeded"),
        ["max_tokens_past_context_window"] = new(() => Valid(r => r.MaxTokens = 16_384), StatusCode.InvalidArgument, "16384 for max_tokens", "context_length_exceeded"),
        ["message_over_max_receive_size"] = new(() => Valid(r => r.Messages[0].Content = new string('a', 5 * 1024 * 1024)), StatusCode.ResourceExhausted, "exceeds the maximum"),
        ["top_p_above_1"] = new(() => Valid(r => r.TopP = 1.5), StatusCode.InvalidArgument, "top_p: must be between 0 and 1"),
        ["five_stop_sequences"] = new(() => Valid(r => r.Stop.Add(["a", "b", "c", "d", "e"])), StatusCode.InvalidArgument, "stop: at most 4"),
        ["tool_parameters_properties_a_number"] = new(() => Valid(r => r.Tools.Add(ToolNamed("f", new Struct { Fields = { ["properties"] = Value.ForNumber(1) } }))), StatusCode.InvalidArgument, "tools[0].parameters.properties: must be an object"),
        ["tool_parameters_required_not_names"] = new(() => Valid(r => r.Tools.Add(ToolNamed("f", new Struct { Fields = { ["required"] = Value.ForList(Value.ForNumber(1)) } }))), StatusCode.InvalidArgument, "tools[0].parameters.required: must be an array of argument names"),
        ["tool_choice_unknown_function"] = new(() => Valid(r => { r.Tools.Add(ToolNamed("f")); r.ToolChoice = new ToolChoice { FunctionName = "g" }; }), StatusCode.InvalidArgument, "tool_choice.function_name: 'g' is not one of the request's tools"),
        ["image_url_not_http"] = new(() => Valid(r => r.Messages[0].Parts.Add(new ContentPart { Image = new ImagePart { Url = "file:///etc/passwd" } })), StatusCode.InvalidArgument, "messages[0].parts[0].image.url: 'file:///etc/passwd' is not an http(s) or data: URL"),
        ["metadata_value_over_512"] = new(() => Valid(r => r.Metadata["k"] = new string('v', 600)), StatusCode.InvalidArgument, "metadata.k: the value is 600 characters"),
        ["tool_message_without_call_id"] = new(() => Valid(r => r.Messages.Add(new Message { Role = Role.Tool, Content = "42" })), StatusCode.InvalidArgument, "messages[1].tool_call_id: is required"),
        ["headers_over_32_kib"] = new(() => Valid(), StatusCode.InvalidArgument, "requestLimits:maxHeaderBytes", Headers: new Metadata { { "x-padding", new string('p', 33 * 1024) } }),
    };

    public static TheoryData<string> GrpcCaseNames() => [.. GrpcCases.Keys];

    [Theory]
    [MemberData(nameof(GrpcCaseNames))]
    public async Task Grpc_HostileInput_InvalidArgumentNamingTheField_ThenNormalCallSucceeds(string name)
    {
        var expected = GrpcCases[name];
        var simulatorStarted = gateway.SimulatorStats.Started;
        using var channel = GrpcChannel.ForAddress("http://" + gateway.GrpcTarget, new GrpcChannelOptions { MaxSendMessageSize = null });
        var client = new Completion.CompletionClient(channel);
        var failure = await Assert.ThrowsAsync<RpcException>(() => client.CompleteAsync(expected.Request(), expected.Headers, DateTime.UtcNow.AddSeconds(30)).ResponseAsync);
        Assert.True(expected.Status == failure.StatusCode, $"{name}: expected {expected.Status}, got {failure.StatusCode}: {failure.Status.Detail}");
        Assert.Contains(expected.Fragment, failure.Status.Detail, StringComparison.Ordinal);
        if (expected.Kind is not null)
        {
            Assert.Equal(expected.Kind, failure.Trailers.GetValue("gateway-error-kind"));
        }

        Assert.Equal(simulatorStarted, gateway.SimulatorStats.Started);
        await AssertGrpcServesAsync(client);
    }

    [Fact]
    public async Task Grpc_InvalidUtf8InAStringField_InvalidArgumentNotInternal()
    {
        // gateway.v1.CompletionRequest { model: "sim-small", messages: [{ role: ROLE_USER, content: FF FE }] }
        // written by hand: no protobuf library writes invalid UTF-8 into a string field.
        byte[] message = [0x08, 0x02, 0x12, 0x02, 0xFF, 0xFE];
        byte[] frame = [0x0A, 0x09, .. "sim-small"u8, 0x12, (byte)message.Length, .. message];
        using var channel = GrpcChannel.ForAddress("http://" + gateway.GrpcTarget);
        var raw = new Method<byte[], byte[]>(MethodType.Unary, "gateway.v1.Completion", "Complete", Marshallers.Create(static b => b, static b => b), Marshallers.Create(static b => b, static b => b));
        var failure = await Assert.ThrowsAsync<RpcException>(() => channel.CreateCallInvoker().AsyncUnaryCall(raw, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)), frame).ResponseAsync);
        Assert.True(failure.StatusCode == StatusCode.InvalidArgument, $"got {failure.StatusCode}: {failure.Status.Detail}");
        Assert.Contains("UTF-8", failure.Status.Detail, StringComparison.Ordinal);
        await AssertGrpcServesAsync(new Completion.CompletionClient(channel));
    }

    private static async Task AssertGrpcServesAsync(Completion.CompletionClient client)
    {
        var response = await client.CompleteAsync(Valid(), deadline: DateTime.UtcNow.AddSeconds(30));
        Assert.False(string.IsNullOrEmpty(response.Message.Content));
    }

    [Fact]
    public void Sweep_CoversAtLeastFortyCasesAcrossBothDoors()
    {
        Assert.True(RestCases.Count + GrpcCases.Count >= 40, $"{RestCases.Count} REST + {GrpcCases.Count} gRPC cases");
        Assert.True(GrpcCases.Count >= 10);
    }

    /// <summary>A chat-completions body that never ends (a huge content string), sent chunked; records how much went out.</summary>
    private sealed class EndlessJsonContent : HttpContent
    {
        public static long LastSent { get; private set; }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            LastSent = 0;
            var head = "{\"model\":\"sim-small\",\"messages\":[{\"role\":\"user\",\"content\":\""u8.ToArray();
            await stream.WriteAsync(head);
            LastSent += head.Length;
            var chunk = new byte[64 * 1024];
            Array.Fill(chunk, (byte)'a');
            // Far past the 16 MiB limit; a gateway that keeps reading gets all 256 MiB.
            for (var i = 0; i < 4096; i++)
            {
                await stream.WriteAsync(chunk);
                LastSent += chunk.Length;
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
