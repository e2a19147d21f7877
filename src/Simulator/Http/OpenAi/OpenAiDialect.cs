using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Gateway.Grpc.Simulator.Generation;
using Gateway.Grpc.Simulator.Internal;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Simulator.Http.OpenAi;

/// <summary>
/// OpenAI Chat Completions, Embeddings and Models (api.openai.com/v1). Streams are
/// <c>data: {chat.completion.chunk}</c> lines ended by <c>data: [DONE]</c>.
/// </summary>
internal class OpenAiDialect : ProviderDialect
{
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();
    private static readonly string[] Roles = ["system", "developer", "user", "assistant", "tool", "function"];

    public override string Api => "openai";

    public override string StreamContentType => "text/event-stream; charset=utf-8";

    public override ApiError? Authorize(HttpContext context, string? requiredKey)
    {
        var authorization = context.Request.Headers.Authorization.ToString();
        if (!authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || authorization.Length <= "Bearer ".Length)
        {
            return new ApiError(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.", Code: "");
        }

        var key = authorization["Bearer ".Length..].Trim();
        if (requiredKey is not null && !string.Equals(key, requiredKey, StringComparison.Ordinal))
        {
            return new ApiError(401, $"Incorrect API key provided: {Mask(key)}. You can find your API key at https://platform.openai.com/account/api-keys.", Code: "invalid_api_key");
        }

        return null;
    }

    public override void AddResponseHeaders(HttpExchange exchange)
    {
        var headers = exchange.Context.Response.Headers;
        headers["x-request-id"] = "req_" + exchange.Record.Id.ToString("x24", CultureInfo.InvariantCulture);
        headers["openai-version"] = "2020-10-01";
        headers["openai-processing-ms"] = "1";
        headers["x-ratelimit-limit-requests"] = "10000";
        headers["x-ratelimit-remaining-requests"] = "9999";
        headers["x-ratelimit-reset-requests"] = "6ms";
        headers["x-ratelimit-limit-tokens"] = "30000000";
        headers["x-ratelimit-remaining-tokens"] = "29999000";
        headers["x-ratelimit-reset-tokens"] = "2ms";
    }

    public override void WriteErrorBody(HttpExchange exchange, ApiError error)
    {
        var w = exchange.BeginJson();
        w.WriteStartObject();
        w.WriteStartObject("error");
        w.WriteString("message", error.Message);
        w.WriteString("type", ErrorType(error.Status));
        WriteNullable(w, "param", error.Param);
        // Code "" = an explicit null (the missing-key error has none).
        var code = error.Code ?? DefaultCode(error.Status);
        WriteNullable(w, "code", code is { Length: 0 } ? null : code);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public override string DefaultMessage(int status, string? model) => status switch
    {
        400 => "Invalid request.",
        401 => "Incorrect API key provided: sk-sim****. You can find your API key at https://platform.openai.com/account/api-keys.",
        403 => "You are not allowed to sample from this model.",
        404 => $"The model `{model}` does not exist or you do not have access to it.",
        429 => $"Rate limit reached for {model} in organization org-simulator on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 1s. Visit https://platform.openai.com/account/rate-limits to learn more.",
        500 => "The server had an error while processing your request. Sorry about that!",
        502 => "Bad gateway.",
        503 => "The server is overloaded or not ready yet.",
        504 => "Gateway timeout.",
        _ => status >= 500 ? "The engine is currently overloaded, please try again later" : "Request failed.",
    };

    public override ApiError InvalidJson(string detail)
        => new(400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.) " + detail);

    public override SimRequest? ParseChat(JsonElement root, RouteInfo route, out ApiError? error)
    {
        error = null;
        string? problem = null;
        var request = new SimRequest { Model = route.Model ?? JsonRead.String(root, "model") ?? "" };
        if (request.Model.Length == 0)
        {
            error = new ApiError(400, "you must provide a model parameter");
            return null;
        }

        if (!JsonRead.Has(root, "messages", out var messages))
        {
            error = new ApiError(400, "Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
            return null;
        }

        if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
        {
            error = new ApiError(400, messages.ValueKind == JsonValueKind.Array ? "[] is too short - 'messages'" : $"Invalid type for 'messages': expected an array, but got {JsonRead.Describe(messages)} instead.", "messages", messages.ValueKind == JsonValueKind.Array ? null : "invalid_type");
            return null;
        }

        var index = 0;
        foreach (var message in messages.EnumerateArray())
        {
            var parsed = ParseMessage(message, index, out error);
            if (parsed is null)
            {
                return null;
            }

            request.Messages.Add(parsed);
            index++;
        }

        if (!ParseTools(root, request, out error))
        {
            return null;
        }

        if (JsonRead.Has(root, "response_format", out var format))
        {
            var type = JsonRead.String(format, "type");
            switch (type)
            {
                case "text":
                    break;
                case "json_object":
                    request.Format = OutputFormat.JsonObject;
                    break;
                case "json_schema":
                    if (!JsonRead.Has(format, "json_schema", out var jsonSchema) || !JsonRead.Has(jsonSchema, "schema", out var schema))
                    {
                        error = new ApiError(400, "Missing required parameter: 'response_format.json_schema'.", "response_format.json_schema", "missing_required_parameter");
                        return null;
                    }

                    request.Format = OutputFormat.JsonSchema;
                    request.FormatSchema = schema.Clone();
                    break;
                default:
                    error = new ApiError(400, $"Invalid value: '{type}'. Supported values are: 'text', 'json_object', and 'json_schema'.", "response_format.type", "invalid_value");
                    return null;
            }
        }

        request.MaxTokens = JsonRead.Int(root, "max_completion_tokens", 1, int.MaxValue, ref problem) ?? JsonRead.Int(root, "max_tokens", 1, int.MaxValue, ref problem);
        request.Seed = JsonRead.Long(root, "seed", ref problem);
        request.Stream = JsonRead.Bool(root, "stream", ref problem) ?? false;
        var n = JsonRead.Int(root, "n", 1, 128, ref problem);
        if (problem is null && n is > 1)
        {
            problem = "The simulator supports n=1 only.";
        }

        if (JsonRead.Has(root, "stream_options", out var streamOptions))
        {
            request.IncludeUsage = JsonRead.Bool(streamOptions, "include_usage", ref problem) ?? false;
        }

        if (JsonRead.Has(root, "stop", out var stop))
        {
            if (stop.ValueKind == JsonValueKind.String)
            {
                request.Stop.Add(stop.GetString()!);
            }
            else if (stop.ValueKind == JsonValueKind.Array && stop.GetArrayLength() <= 4)
            {
                foreach (var s in stop.EnumerateArray())
                {
                    if (s.ValueKind == JsonValueKind.String)
                    {
                        request.Stop.Add(s.GetString()!);
                    }
                }
            }
            else
            {
                problem ??= "Invalid 'stop': expected a string or an array of up to 4 strings.";
            }
        }

        if (problem is not null)
        {
            error = new ApiError(400, problem);
            return null;
        }

        return request;
    }

    private static SimMessage? ParseMessage(JsonElement message, int index, out ApiError? error)
    {
        error = null;
        if (message.ValueKind != JsonValueKind.Object)
        {
            error = new ApiError(400, $"Invalid type for 'messages[{index}]': expected an object, but got {JsonRead.Describe(message)} instead.", $"messages[{index}]", "invalid_type");
            return null;
        }

        var role = JsonRead.String(message, "role");
        if (role is null || Array.IndexOf(Roles, role) < 0)
        {
            error = new ApiError(400, role is null
                ? $"Missing required parameter: 'messages[{index}].role'."
                : $"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", $"messages[{index}].role", role is null ? "missing_required_parameter" : "invalid_value");
            return null;
        }

        var text = "";
        var extra = 0;
        if (message.TryGetProperty("content", out var content))
        {
            switch (content.ValueKind)
            {
                case JsonValueKind.String:
                    text = content.GetString()!;
                    break;
                case JsonValueKind.Array:
                    var parts = new List<string>();
                    foreach (var part in content.EnumerateArray())
                    {
                        var type = JsonRead.String(part, "type");
                        if (type is "text" or "input_text" or "refusal")
                        {
                            parts.Add(JsonRead.String(part, type == "refusal" ? "refusal" : "text") ?? "");
                        }
                        else
                        {
                            // Images, audio and files: a flat cost like a low-detail image.
                            extra += 85;
                        }
                    }

                    text = string.Join("\n", parts);
                    break;
                case JsonValueKind.Null:
                    break;
                default:
                    error = new ApiError(400, $"Invalid type for 'messages[{index}].content': expected one of a string or array of objects, but got {JsonRead.Describe(content)} instead.", $"messages[{index}].content", "invalid_type");
                    return null;
            }
        }

        if (JsonRead.Has(message, "tool_calls", out var toolCalls) && toolCalls.ValueKind == JsonValueKind.Array)
        {
            foreach (var call in toolCalls.EnumerateArray())
            {
                if (JsonRead.Has(call, "function", out var function))
                {
                    extra += TokenCounter.Count(JsonRead.String(function, "name")) + TokenCounter.Count(JsonRead.String(function, "arguments"));
                }
            }
        }

        var simRole = role switch
        {
            "system" or "developer" => SimRole.System,
            "assistant" => SimRole.Assistant,
            "tool" or "function" => SimRole.Tool,
            _ => SimRole.User,
        };
        return new SimMessage(simRole, text) { ExtraTokens = extra, HasToolResult = simRole == SimRole.Tool };
    }

    private static bool ParseTools(JsonElement root, SimRequest request, out ApiError? error)
    {
        error = null;
        if (JsonRead.Has(root, "tools", out var tools))
        {
            if (tools.ValueKind != JsonValueKind.Array)
            {
                error = new ApiError(400, $"Invalid type for 'tools': expected an array, but got {JsonRead.Describe(tools)} instead.", "tools", "invalid_type");
                return false;
            }

            var i = 0;
            foreach (var tool in tools.EnumerateArray())
            {
                if (!JsonRead.Has(tool, "function", out var function) || JsonRead.String(function, "name") is not { Length: > 0 } name)
                {
                    error = new ApiError(400, $"Missing required parameter: 'tools[{i}].function.name'.", $"tools[{i}].function.name", "missing_required_parameter");
                    return false;
                }

                JsonElement? schema = JsonRead.Has(function, "parameters", out var parameters) ? parameters.Clone() : null;
                request.Tools.Add(new SimTool(name, JsonRead.String(function, "description") ?? "", schema));
                i++;
            }
        }

        if (JsonRead.Has(root, "tool_choice", out var choice))
        {
            if (choice.ValueKind == JsonValueKind.String)
            {
                switch (choice.GetString())
                {
                    case "none":
                        request.ToolChoice = ToolChoiceKind.None;
                        break;
                    case "auto":
                        request.ToolChoice = ToolChoiceKind.Auto;
                        break;
                    case "required":
                        request.ToolChoice = ToolChoiceKind.Required;
                        break;
                    default:
                        error = new ApiError(400, $"Invalid value: '{choice.GetString()}'. Supported values are: 'none', 'auto', and 'required'.", "tool_choice", "invalid_value");
                        return false;
                }
            }
            else if (JsonRead.Has(choice, "function", out var function) && JsonRead.String(function, "name") is { } name)
            {
                request.ToolChoice = ToolChoiceKind.Named;
                request.ToolChoiceName = name;
            }
            else
            {
                error = new ApiError(400, "Invalid 'tool_choice': expected 'none', 'auto', 'required' or {\"type\":\"function\",\"function\":{\"name\":...}}.", "tool_choice", "invalid_value");
                return false;
            }

            if (request.ToolChoice is ToolChoiceKind.Required or ToolChoiceKind.Named && request.Tools.Count == 0)
            {
                error = new ApiError(400, "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", "tool_choice");
                return false;
            }
        }

        string? problem = null;
        request.ParallelToolCalls = JsonRead.Bool(root, "parallel_tool_calls", ref problem) ?? true;
        if (problem is not null)
        {
            error = new ApiError(400, problem, "parallel_tool_calls");
            return false;
        }

        return true;
    }

    public override async Task WriteChatAsync(HttpExchange exchange, SimRequest request, SimPlan plan)
    {
        var id = "chatcmpl-" + ((ulong)exchange.Record.Id).ToString("x8", CultureInfo.InvariantCulture) + plan.Seed.ToString("x16", CultureInfo.InvariantCulture);
        var created = exchange.Created;
        if (!request.Stream)
        {
            await exchange.PaceUnaryAsync(plan.StreamUnits).ConfigureAwait(false);
            WriteCompletion(exchange.BeginJson(), id, created, request.Model, plan);
            await exchange.SendJsonAsync(StatusCodes.Status200OK).ConfigureAwait(false);
            return;
        }

        await exchange.StartStreamAsync(StreamContentType).ConfigureAwait(false);
        await WriteStreamPreambleAsync(exchange).ConfigureAwait(false);

        // Role first, like the real API.
        var w = BeginChunk(exchange, id, created, request.Model);
        w.WriteStartObject("delta");
        w.WriteString("role", "assistant");
        if (plan.ToolCalls.Count > 0)
        {
            w.WriteNull("content");
        }
        else
        {
            w.WriteString("content", "");
        }

        w.WriteNull("refusal");
        w.WriteEndObject();
        await EndChunkAsync(exchange, w, null, request.IncludeUsage, malformable: false).ConfigureAwait(false);

        foreach (var token in plan.TextTokens)
        {
            if (!await exchange.NextUnitAsync().ConfigureAwait(false))
            {
                return;
            }

            w = BeginChunk(exchange, id, created, request.Model);
            w.WriteStartObject("delta");
            w.WriteString("content", token);
            w.WriteEndObject();
            await EndChunkAsync(exchange, w, null, request.IncludeUsage, malformable: true).ConfigureAwait(false);
        }

        for (var i = 0; i < plan.ToolCalls.Count; i++)
        {
            var call = plan.ToolCalls[i];
            w = BeginChunk(exchange, id, created, request.Model);
            w.WriteStartObject("delta");
            w.WriteStartArray("tool_calls");
            w.WriteStartObject();
            w.WriteNumber("index", i);
            w.WriteString("id", "call_" + call.IdSuffix);
            w.WriteString("type", "function");
            w.WriteStartObject("function");
            w.WriteString("name", call.Name);
            w.WriteString("arguments", "");
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            await EndChunkAsync(exchange, w, null, request.IncludeUsage, malformable: true).ConfigureAwait(false);
            foreach (var piece in call.Pieces)
            {
                if (!await exchange.NextUnitAsync().ConfigureAwait(false))
                {
                    return;
                }

                w = BeginChunk(exchange, id, created, request.Model);
                w.WriteStartObject("delta");
                w.WriteStartArray("tool_calls");
                w.WriteStartObject();
                w.WriteNumber("index", i);
                w.WriteStartObject("function");
                w.WriteString("arguments", piece);
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
                await EndChunkAsync(exchange, w, null, request.IncludeUsage, malformable: true).ConfigureAwait(false);
            }
        }

        if (await exchange.InterruptBeforeEndAsync().ConfigureAwait(false))
        {
            return;
        }

        w = BeginChunk(exchange, id, created, request.Model);
        w.WriteStartObject("delta");
        w.WriteEndObject();
        await EndChunkAsync(exchange, w, FinishReason(plan.Finish), request.IncludeUsage, malformable: true).ConfigureAwait(false);
        if (request.IncludeUsage)
        {
            w = exchange.BeginJson();
            WriteChunkHeader(w, id, created, request.Model);
            w.WriteStartArray("choices");
            w.WriteEndArray();
            w.WritePropertyName("usage");
            WriteUsage(w, plan);
            w.WriteEndObject();
            await exchange.SendEventAsync(null, malformable: true, EventEnd).ConfigureAwait(false);
        }

        exchange.BeginTerminalWrite();
        await exchange.SendRawAsync(Done).ConfigureAwait(false);
    }

    /// <summary>OpenAI sends <c>data: {"error":{...}}</c> and closes the stream (no [DONE]).</summary>
    public override Task WriteStreamErrorAsync(HttpExchange exchange, ApiError error)
    {
        WriteErrorBody(exchange, error);
        return exchange.SendEventAsync(null, malformable: false, EventEnd);
    }

    /// <summary>Events before the first chunk (Azure sends prompt filter results).</summary>
    protected virtual Task WriteStreamPreambleAsync(HttpExchange exchange) => Task.CompletedTask;

    /// <summary>Extra fields in the unary completion object (Azure content filter results).</summary>
    protected virtual void WriteCompletionExtras(Utf8JsonWriter w)
    {
    }

    /// <summary>Extra fields in each unary choice.</summary>
    protected virtual void WriteChoiceExtras(Utf8JsonWriter w)
    {
    }

    private void WriteCompletion(Utf8JsonWriter w, string id, long created, string model, SimPlan plan)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", "chat.completion");
        w.WriteNumber("created", created);
        w.WriteString("model", model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        if (plan.ToolCalls.Count > 0)
        {
            w.WriteNull("content");
            w.WriteStartArray("tool_calls");
            foreach (var call in plan.ToolCalls)
            {
                w.WriteStartObject();
                w.WriteString("id", "call_" + call.IdSuffix);
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", call.Name);
                w.WriteString("arguments", call.Arguments);
                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }
        else
        {
            w.WriteString("content", plan.Text);
        }

        w.WriteNull("refusal");
        w.WriteStartArray("annotations");
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", FinishReason(plan.Finish));
        WriteChoiceExtras(w);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WritePropertyName("usage");
        WriteUsage(w, plan);
        w.WriteString("service_tier", "default");
        w.WriteString("system_fingerprint", "fp_simulator");
        WriteCompletionExtras(w);
        w.WriteEndObject();
    }

    private static void WriteUsage(Utf8JsonWriter w, SimPlan plan)
    {
        w.WriteStartObject();
        w.WriteNumber("prompt_tokens", plan.InputTokens);
        w.WriteNumber("completion_tokens", plan.OutputTokens);
        w.WriteNumber("total_tokens", plan.InputTokens + plan.OutputTokens);
        w.WriteStartObject("prompt_tokens_details");
        w.WriteNumber("cached_tokens", plan.CachedTokens);
        w.WriteNumber("audio_tokens", 0);
        w.WriteEndObject();
        w.WriteStartObject("completion_tokens_details");
        w.WriteNumber("reasoning_tokens", 0);
        w.WriteNumber("audio_tokens", 0);
        w.WriteNumber("accepted_prediction_tokens", 0);
        w.WriteNumber("rejected_prediction_tokens", 0);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteChunkHeader(Utf8JsonWriter w, string id, long created, string model)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", "chat.completion.chunk");
        w.WriteNumber("created", created);
        w.WriteString("model", model);
        w.WriteString("service_tier", "default");
        w.WriteString("system_fingerprint", "fp_simulator");
    }

    /// <summary>Writes the chunk envelope up to the open choice object; the caller writes "delta".</summary>
    private static Utf8JsonWriter BeginChunk(HttpExchange exchange, string id, long created, string model)
    {
        var w = exchange.BeginJson();
        WriteChunkHeader(w, id, created, model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        return w;
    }

    private static Task EndChunkAsync(HttpExchange exchange, Utf8JsonWriter w, string? finishReason, bool includeUsage, bool malformable)
    {
        w.WriteNull("logprobs");
        WriteNullable(w, "finish_reason", finishReason);
        w.WriteEndObject();
        w.WriteEndArray();
        if (includeUsage)
        {
            w.WriteNull("usage");
        }

        w.WriteEndObject();
        return exchange.SendEventAsync(null, malformable, EventEnd);
    }

    public override EmbedRequest? ParseEmbed(JsonElement root, RouteInfo route, out ApiError? error)
    {
        error = null;
        var request = new EmbedRequest { Model = route.Model ?? JsonRead.String(root, "model") ?? "" };
        if (request.Model.Length == 0)
        {
            error = new ApiError(400, "you must provide a model parameter");
            return null;
        }

        if (!JsonRead.Has(root, "input", out var input))
        {
            error = new ApiError(400, "Missing required parameter: 'input'.", "input", "missing_required_parameter");
            return null;
        }

        var tokens = 0;
        switch (input.ValueKind)
        {
            case JsonValueKind.String:
                request.Inputs.Add(input.GetString()!);
                tokens += TokenCounter.Count(input.GetString());
                break;
            case JsonValueKind.Array when input.GetArrayLength() > 0:
                var first = input[0].ValueKind;
                if (first == JsonValueKind.Number)
                {
                    // One input given as token ids.
                    request.Inputs.Add(input.GetRawText());
                    tokens += input.GetArrayLength();
                    break;
                }

                foreach (var item in input.EnumerateArray())
                {
                    if (item.ValueKind == JsonValueKind.String)
                    {
                        request.Inputs.Add(item.GetString()!);
                        tokens += TokenCounter.Count(item.GetString());
                    }
                    else if (item.ValueKind == JsonValueKind.Array)
                    {
                        request.Inputs.Add(item.GetRawText());
                        tokens += item.GetArrayLength();
                    }
                    else
                    {
                        error = new ApiError(400, "Invalid 'input': expected a string, an array of strings, an array of token ids or an array of token arrays.", "input", "invalid_type");
                        return null;
                    }
                }

                break;
            default:
                error = new ApiError(400, "Invalid 'input': expected a non-empty string or array.", "input", "invalid_type");
                return null;
        }

        request.InputTokens = tokens;
        string? problem = null;
        request.Dimensions = JsonRead.Int(root, "dimensions", 1, EmbeddingVectors.MaxDimensions, ref problem);
        var encoding = JsonRead.String(root, "encoding_format");
        if (encoding is not null and not "float" and not "base64")
        {
            problem ??= $"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.";
        }

        if (problem is not null)
        {
            error = new ApiError(400, problem);
            return null;
        }

        request.Base64 = encoding == "base64";
        return request;
    }

    public override Task WriteEmbedAsync(HttpExchange exchange, EmbedRequest request)
    {
        var dimensions = request.Dimensions ?? EmbeddingVectors.DefaultDimensions(request.Model);
        var w = exchange.BeginJson();
        w.WriteStartObject();
        w.WriteString("object", "list");
        w.WriteStartArray("data");
        for (var i = 0; i < request.Inputs.Count; i++)
        {
            var vector = EmbeddingVectors.Create(request.Model, request.Inputs[i], dimensions);
            w.WriteStartObject();
            w.WriteString("object", "embedding");
            w.WriteNumber("index", i);
            if (request.Base64)
            {
                // Little-endian float32 bytes, as the API sends them.
                w.WriteBase64String("embedding", MemoryMarshal.AsBytes(vector.AsSpan()));
            }
            else
            {
                w.WriteStartArray("embedding");
                foreach (var value in vector)
                {
                    w.WriteNumberValue(value);
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteString("model", request.Model);
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", request.InputTokens);
        w.WriteNumber("total_tokens", request.InputTokens);
        w.WriteEndObject();
        w.WriteEndObject();
        return exchange.SendJsonAsync(StatusCodes.Status200OK);
    }

    public override Task WriteModelsAsync(HttpExchange exchange, IList<string> models, string? single)
    {
        var w = exchange.BeginJson();
        if (single is not null)
        {
            if (!models.Contains(single))
            {
                WriteErrorBody(exchange, new ApiError(404, $"The model '{single}' does not exist", "model", "model_not_found"));
                return exchange.SendJsonAsync(StatusCodes.Status404NotFound);
            }

            WriteModel(w, single);
            return exchange.SendJsonAsync(StatusCodes.Status200OK);
        }

        w.WriteStartObject();
        w.WriteString("object", "list");
        w.WriteStartArray("data");
        foreach (var model in models)
        {
            WriteModel(w, model);
        }

        w.WriteEndArray();
        w.WriteEndObject();
        return exchange.SendJsonAsync(StatusCodes.Status200OK);
    }

    private static void WriteModel(Utf8JsonWriter w, string model)
    {
        w.WriteStartObject();
        w.WriteString("id", model);
        w.WriteString("object", "model");
        w.WriteNumber("created", 1_700_000_000);
        w.WriteString("owned_by", "system");
        w.WriteEndObject();
    }

    protected static string FinishReason(SimFinish finish) => finish switch
    {
        SimFinish.Length => "length",
        SimFinish.ToolCalls => "tool_calls",
        _ => "stop",
    };

    protected static string ErrorType(int status) => status switch
    {
        429 => "requests",
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };

    private static string? DefaultCode(int status) => status switch
    {
        401 => "invalid_api_key",
        404 => "model_not_found",
        429 => "rate_limit_exceeded",
        _ => null,
    };

    protected static void WriteNullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }

    private static string Mask(string key) => key.Length <= 8 ? "****" : key[..3] + "****" + key[^4..];
}
