using System.Globalization;
using System.Text.Json;
using Gateway.Grpc.Simulator.Generation;
using Gateway.Grpc.Simulator.Internal;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Simulator.Http.Gemini;

/// <summary>
/// Gemini API (generativelanguage, <c>/v1beta/models/{model}:generateContent</c> and friends):
/// x-goog-api-key header or key query, roles user/model, systemInstruction, functionDeclarations,
/// generationConfig, usageMetadata, and Google's <c>{"error":{"code","message","status"}}</c> errors.
/// Streams are SSE (<c>alt=sse</c>, each <c>data:</c> a GenerateContentResponse) or, without
/// alt=sse, a JSON array written element by element.
/// </summary>
internal sealed class GeminiDialect : ProviderDialect
{
    private static readonly byte[] SseEnd = "\r\n\r\n"u8.ToArray();
    private static readonly byte[] ArrayOpen = "["u8.ToArray();
    private static readonly byte[] ArraySeparator = ",\r\n"u8.ToArray();
    private static readonly byte[] ArrayClose = "]"u8.ToArray();
    private static readonly byte[] ArrayOpenClose = "[]"u8.ToArray();

    public override string Api => "gemini";

    public override string StreamContentType => "text/event-stream";

    public override ApiError? Authorize(HttpContext context, string? requiredKey)
    {
        var key = context.Request.Headers["x-goog-api-key"].ToString();
        if (key.Length == 0)
        {
            key = context.Request.Query["key"].ToString();
        }

        if (key.Length == 0)
        {
            return new ApiError(403, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");
        }

        return requiredKey is not null && !string.Equals(key, requiredKey, StringComparison.Ordinal)
            ? new ApiError(400, "API key not valid. Please pass a valid API key.", Code: "API_KEY_INVALID")
            : null;
    }

    public override void AddResponseHeaders(HttpExchange exchange)
    {
        exchange.Context.Response.Headers["server-timing"] = "gfet4t7; dur=1";
        exchange.Context.Response.Headers.Vary = "Origin, X-Origin, Referer";
    }

    public override void WriteErrorBody(HttpExchange exchange, ApiError error)
    {
        var w = exchange.BeginJson();
        w.WriteStartObject();
        w.WriteStartObject("error");
        w.WriteNumber("code", error.Status);
        w.WriteString("message", error.Message);
        w.WriteString("status", StatusName(error.Status));
        if (error.Code == "API_KEY_INVALID")
        {
            w.WriteStartArray("details");
            w.WriteStartObject();
            w.WriteString("@type", "type.googleapis.com/google.rpc.ErrorInfo");
            w.WriteString("reason", "API_KEY_INVALID");
            w.WriteString("domain", "googleapis.com");
            w.WriteEndObject();
            w.WriteEndArray();
        }
        else if (error.Status == 429)
        {
            var delay = exchange.Faults.RetryAfterMs ?? 1000;
            w.WriteStartArray("details");
            w.WriteStartObject();
            w.WriteString("@type", "type.googleapis.com/google.rpc.RetryInfo");
            w.WriteString("retryDelay", (delay / 1000.0).ToString("0.###", CultureInfo.InvariantCulture) + "s");
            w.WriteEndObject();
            w.WriteEndArray();
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    public override string DefaultMessage(int status, string? model) => status switch
    {
        400 => "Request contains an invalid argument.",
        401 => "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        403 => "The caller does not have permission",
        404 => $"models/{model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.",
        429 => "Resource has been exhausted (e.g. check quota).",
        500 => "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        503 => "The model is overloaded. Please try again later.",
        504 => "Deadline expired before operation could complete.",
        _ => status >= 500 ? "The service is currently unavailable." : "Request failed.",
    };

    public override ApiError InvalidJson(string detail) => new(400, "Invalid JSON payload received. " + detail);

    public override SimRequest? ParseChat(JsonElement root, RouteInfo route, out ApiError? error)
    {
        error = null;
        string? problem = null;
        var request = new SimRequest { Model = route.Model ?? "", Stream = route.Stream ?? false };
        if (!Prop(root, "contents", "contents", out var contents) || contents.ValueKind != JsonValueKind.Array || contents.GetArrayLength() == 0)
        {
            error = new ApiError(400, "* GenerateContentRequest.contents: contents is not specified");
            return null;
        }

        if (Prop(root, "systemInstruction", "system_instruction", out var system))
        {
            request.Messages.Add(new SimMessage(SimRole.System, PartsText(system, out _, out _)));
        }

        var index = 0;
        foreach (var content in contents.EnumerateArray())
        {
            var role = JsonRead.String(content, "role") ?? "user";
            if (role is not "user" and not "model" and not "function" and not "tool")
            {
                error = new ApiError(400, $"Please use a valid role: user, model. (contents[{index}].role = '{role}')");
                return null;
            }

            if (!Prop(content, "parts", "parts", out var parts) || parts.ValueKind != JsonValueKind.Array || parts.GetArrayLength() == 0)
            {
                error = new ApiError(400, $"* GenerateContentRequest.contents[{index}].parts: contents.parts must not be empty.");
                return null;
            }

            var text = PartsText(content, out var extra, out var toolResult);
            var simRole = role == "model" ? SimRole.Assistant : toolResult || role is "function" or "tool" ? SimRole.Tool : SimRole.User;
            request.Messages.Add(new SimMessage(simRole, text) { ExtraTokens = extra, HasToolResult = toolResult });
            index++;
        }

        if (Prop(root, "tools", "tools", out var tools) && tools.ValueKind == JsonValueKind.Array)
        {
            foreach (var tool in tools.EnumerateArray())
            {
                if (!Prop(tool, "functionDeclarations", "function_declarations", out var declarations) || declarations.ValueKind != JsonValueKind.Array)
                {
                    continue;
                }

                foreach (var declaration in declarations.EnumerateArray())
                {
                    if (JsonRead.String(declaration, "name") is not { Length: > 0 } name)
                    {
                        error = new ApiError(400, "* GenerateContentRequest.tools[0].function_declarations[0].name: Name cannot be empty.");
                        return null;
                    }

                    JsonElement? schema = Prop(declaration, "parametersJsonSchema", "parameters_json_schema", out var jsonSchema) ? jsonSchema.Clone()
                        : Prop(declaration, "parameters", "parameters", out var parameters) ? parameters.Clone() : null;
                    request.Tools.Add(new SimTool(name, JsonRead.String(declaration, "description") ?? "", schema));
                }
            }
        }

        if (Prop(root, "toolConfig", "tool_config", out var toolConfig) && Prop(toolConfig, "functionCallingConfig", "function_calling_config", out var calling))
        {
            var mode = JsonRead.String(calling, "mode") ?? "AUTO";
            request.ToolChoice = mode switch
            {
                "NONE" => ToolChoiceKind.None,
                "ANY" or "VALIDATED" => ToolChoiceKind.Required,
                _ => ToolChoiceKind.Auto,
            };
            if (request.ToolChoice == ToolChoiceKind.Required && Prop(calling, "allowedFunctionNames", "allowed_function_names", out var allowed)
                && allowed.ValueKind == JsonValueKind.Array && allowed.GetArrayLength() == 1 && allowed[0].ValueKind == JsonValueKind.String)
            {
                request.ToolChoice = ToolChoiceKind.Named;
                request.ToolChoiceName = allowed[0].GetString();
            }
        }

        if (Prop(root, "generationConfig", "generation_config", out var config))
        {
            request.MaxTokens = JsonRead.Int(config, "maxOutputTokens", 1, int.MaxValue, ref problem) ?? JsonRead.Int(config, "max_output_tokens", 1, int.MaxValue, ref problem);
            request.Seed = JsonRead.Long(config, "seed", ref problem);
            var candidates = JsonRead.Int(config, "candidateCount", 1, 8, ref problem);
            if (problem is null && candidates > 1)
            {
                problem = "The simulator supports candidateCount 1 only.";
            }

            if (Prop(config, "stopSequences", "stop_sequences", out var stops) && stops.ValueKind == JsonValueKind.Array)
            {
                foreach (var stop in stops.EnumerateArray())
                {
                    if (stop.ValueKind == JsonValueKind.String)
                    {
                        request.Stop.Add(stop.GetString()!);
                    }
                }
            }

            var mime = JsonRead.String(config, "responseMimeType") ?? JsonRead.String(config, "response_mime_type");
            if (mime == "application/json")
            {
                request.Format = OutputFormat.JsonObject;
                if (Prop(config, "responseJsonSchema", "response_json_schema", out var jsonSchema) || Prop(config, "responseSchema", "response_schema", out jsonSchema))
                {
                    request.Format = OutputFormat.JsonSchema;
                    request.FormatSchema = jsonSchema.Clone();
                }
            }
        }

        if (problem is not null)
        {
            error = new ApiError(400, problem);
            return null;
        }

        return request;
    }

    private static bool Prop(JsonElement obj, string camel, string snake, out JsonElement value)
        => JsonRead.Has(obj, camel, out value) || JsonRead.Has(obj, snake, out value);

    private static string PartsText(JsonElement content, out int extra, out bool toolResult)
    {
        extra = 0;
        toolResult = false;
        if (!Prop(content, "parts", "parts", out var parts) || parts.ValueKind != JsonValueKind.Array)
        {
            return "";
        }

        var texts = new List<string>();
        foreach (var part in parts.EnumerateArray())
        {
            if (JsonRead.String(part, "text") is { } text)
            {
                texts.Add(text);
            }
            else if (Prop(part, "functionCall", "function_call", out var call))
            {
                extra += TokenCounter.Count(JsonRead.String(call, "name")) + (call.TryGetProperty("args", out var args) ? TokenCounter.Count(args.GetRawText()) : 0);
            }
            else if (Prop(part, "functionResponse", "function_response", out var response))
            {
                toolResult = true;
                texts.Add(response.TryGetProperty("response", out var body) ? body.GetRawText() : "");
            }
            else
            {
                // inlineData / fileData: Gemini counts 258 tokens an image.
                extra += 258;
            }
        }

        return string.Join("\n", texts);
    }

    public override async Task WriteChatAsync(HttpExchange exchange, SimRequest request, SimPlan plan)
    {
        var responseId = "sim" + plan.Seed.ToString("x16", CultureInfo.InvariantCulture) + ((uint)exchange.Record.Id).ToString("x6", CultureInfo.InvariantCulture);
        if (!request.Stream)
        {
            await exchange.PaceUnaryAsync(plan.StreamUnits).ConfigureAwait(false);
            var w = exchange.BeginJson();
            w.WriteStartObject();
            w.WriteStartArray("candidates");
            w.WriteStartObject();
            w.WriteStartObject("content");
            w.WriteStartArray("parts");
            if (plan.ToolCalls.Count == 0)
            {
                w.WriteStartObject();
                w.WriteString("text", plan.Text);
                w.WriteEndObject();
            }

            foreach (var call in plan.ToolCalls)
            {
                WriteFunctionCall(w, call);
            }

            w.WriteEndArray();
            w.WriteString("role", "model");
            w.WriteEndObject();
            w.WriteString("finishReason", FinishReason(plan.Finish));
            w.WriteNumber("index", 0);
            w.WriteEndObject();
            w.WriteEndArray();
            WriteUsage(w, plan, plan.OutputTokens);
            w.WriteString("modelVersion", request.Model);
            w.WriteString("responseId", responseId);
            w.WriteEndObject();
            await exchange.SendJsonAsync(StatusCodes.Status200OK).ConfigureAwait(false);
            return;
        }

        var sse = string.Equals(exchange.Context.Request.Query["alt"].ToString(), "sse", StringComparison.Ordinal);
        await exchange.StartStreamAsync(sse ? StreamContentType : "application/json; charset=UTF-8").ConfigureAwait(false);
        var framing = new Framing(exchange, sse);
        exchange.DialectState = framing;
        var produced = 0;
        foreach (var token in plan.TextTokens)
        {
            if (!await exchange.NextUnitAsync().ConfigureAwait(false))
            {
                return;
            }

            produced++;
            var w = exchange.BeginJson();
            BeginCandidate(w);
            w.WriteStartObject();
            w.WriteString("text", token);
            w.WriteEndObject();
            EndCandidate(w, null, plan, produced, request.Model, responseId);
            await framing.SendAsync().ConfigureAwait(false);
        }

        foreach (var call in plan.ToolCalls)
        {
            // Gemini sends a function call whole, in one chunk, once it is complete.
            foreach (var _ in call.Pieces)
            {
                if (!await exchange.NextUnitAsync().ConfigureAwait(false))
                {
                    return;
                }

                produced++;
            }

            var w = exchange.BeginJson();
            BeginCandidate(w);
            WriteFunctionCall(w, call);
            EndCandidate(w, null, plan, produced, request.Model, responseId);
            await framing.SendAsync().ConfigureAwait(false);
        }

        if (await exchange.InterruptBeforeEndAsync().ConfigureAwait(false))
        {
            return;
        }

        var last = exchange.BeginJson();
        BeginCandidate(last);
        last.WriteStartObject();
        last.WriteString("text", "");
        last.WriteEndObject();
        EndCandidate(last, FinishReason(plan.Finish), plan, plan.OutputTokens, request.Model, responseId);
        await framing.SendLastAsync().ConfigureAwait(false);
    }

    /// <summary>A chunk that is Google's error object; the stream then ends.</summary>
    public override async Task WriteStreamErrorAsync(HttpExchange exchange, ApiError error)
    {
        var framing = (Framing)exchange.DialectState!;
        WriteErrorBody(exchange, error);
        await framing.SendAsync(malformable: false).ConfigureAwait(false);
        await framing.CloseAsync().ConfigureAwait(false);
    }

    private static void BeginCandidate(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartArray("candidates");
        w.WriteStartObject();
        w.WriteStartObject("content");
        w.WriteStartArray("parts");
    }

    private static void EndCandidate(Utf8JsonWriter w, string? finishReason, SimPlan plan, int outputSoFar, string model, string responseId)
    {
        w.WriteEndArray();
        w.WriteString("role", "model");
        w.WriteEndObject();
        if (finishReason is not null)
        {
            w.WriteString("finishReason", finishReason);
        }

        w.WriteNumber("index", 0);
        w.WriteEndObject();
        w.WriteEndArray();
        WriteUsage(w, plan, outputSoFar);
        w.WriteString("modelVersion", model);
        w.WriteString("responseId", responseId);
        w.WriteEndObject();
    }

    private static void WriteFunctionCall(Utf8JsonWriter w, SimToolCall call)
    {
        w.WriteStartObject();
        w.WriteStartObject("functionCall");
        w.WriteString("name", call.Name);
        w.WritePropertyName("args");
        try
        {
            using var document = JsonDocument.Parse(call.Arguments);
            document.RootElement.WriteTo(w);
        }
        catch (JsonException)
        {
            // Arguments cut short by maxOutputTokens.
            w.WriteStartObject();
            w.WriteEndObject();
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>usageMetadata is a running total in every chunk, as the API sends it.</summary>
    private static void WriteUsage(Utf8JsonWriter w, SimPlan plan, int outputTokens)
    {
        w.WriteStartObject("usageMetadata");
        w.WriteNumber("promptTokenCount", plan.InputTokens);
        w.WriteNumber("candidatesTokenCount", outputTokens);
        w.WriteNumber("totalTokenCount", plan.InputTokens + outputTokens);
        if (plan.CachedTokens > 0)
        {
            w.WriteNumber("cachedContentTokenCount", plan.CachedTokens);
        }

        w.WriteStartArray("promptTokensDetails");
        w.WriteStartObject();
        w.WriteString("modality", "TEXT");
        w.WriteNumber("tokenCount", plan.InputTokens);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static string FinishReason(SimFinish finish) => finish == SimFinish.Length ? "MAX_TOKENS" : "STOP";

    public override EmbedRequest? ParseEmbed(JsonElement root, RouteInfo route, out ApiError? error)
    {
        error = null;
        string? problem = null;
        var request = new EmbedRequest { Model = route.Model ?? "", Batch = route.Method == "batchEmbedContents" };
        if (request.Batch)
        {
            if (!JsonRead.Has(root, "requests", out var requests) || requests.ValueKind != JsonValueKind.Array || requests.GetArrayLength() == 0)
            {
                error = new ApiError(400, "* BatchEmbedContentsRequest.requests: requests is not specified");
                return null;
            }

            foreach (var item in requests.EnumerateArray())
            {
                if (!JsonRead.Has(item, "content", out var content))
                {
                    error = new ApiError(400, "* BatchEmbedContentsRequest.requests[0].content: content is not specified");
                    return null;
                }

                var text = PartsText(content, out _, out _);
                request.Inputs.Add(text);
                request.InputTokens += TokenCounter.Count(text);
                request.Dimensions ??= JsonRead.Int(item, "outputDimensionality", 1, EmbeddingVectors.MaxDimensions, ref problem);
            }
        }
        else
        {
            if (!JsonRead.Has(root, "content", out var content))
            {
                error = new ApiError(400, "* EmbedContentRequest.content: content is not specified");
                return null;
            }

            var text = PartsText(content, out _, out _);
            request.Inputs.Add(text);
            request.InputTokens = TokenCounter.Count(text);
            request.Dimensions = JsonRead.Int(root, "outputDimensionality", 1, EmbeddingVectors.MaxDimensions, ref problem);
        }

        if (problem is not null)
        {
            error = new ApiError(400, problem);
            return null;
        }

        return request;
    }

    public override Task WriteEmbedAsync(HttpExchange exchange, EmbedRequest request)
    {
        var dimensions = request.Dimensions ?? EmbeddingVectors.DefaultDimensions(request.Model);
        var w = exchange.BeginJson();
        w.WriteStartObject();
        if (request.Batch)
        {
            w.WriteStartArray("embeddings");
            foreach (var input in request.Inputs)
            {
                w.WriteStartObject();
                WriteValues(w, EmbeddingVectors.Create(request.Model, input, dimensions));
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }
        else
        {
            w.WriteStartObject("embedding");
            WriteValues(w, EmbeddingVectors.Create(request.Model, request.Inputs[0], dimensions));
            w.WriteEndObject();
        }

        w.WriteEndObject();
        return exchange.SendJsonAsync(StatusCodes.Status200OK);
    }

    private static void WriteValues(Utf8JsonWriter w, float[] vector)
    {
        w.WriteStartArray("values");
        foreach (var value in vector)
        {
            w.WriteNumberValue(value);
        }

        w.WriteEndArray();
    }

    public override Task WriteModelsAsync(HttpExchange exchange, IList<string> models, string? single)
    {
        var w = exchange.BeginJson();
        if (single is not null)
        {
            if (!models.Contains(single))
            {
                WriteErrorBody(exchange, new ApiError(404, $"models/{single} is not found for API version v1beta."));
                return exchange.SendJsonAsync(StatusCodes.Status404NotFound);
            }

            WriteModel(w, single);
            return exchange.SendJsonAsync(StatusCodes.Status200OK);
        }

        w.WriteStartObject();
        w.WriteStartArray("models");
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
        var embedding = model.Contains("embedding", StringComparison.OrdinalIgnoreCase);
        w.WriteStartObject();
        w.WriteString("name", "models/" + model);
        w.WriteString("version", "001");
        w.WriteString("displayName", model);
        w.WriteString("description", "Simulated model.");
        w.WriteNumber("inputTokenLimit", 1_048_576);
        w.WriteNumber("outputTokenLimit", embedding ? 1 : 65_536);
        w.WriteStartArray("supportedGenerationMethods");
        if (embedding)
        {
            w.WriteStringValue("embedContent");
            w.WriteStringValue("batchEmbedContents");
        }
        else
        {
            w.WriteStringValue("generateContent");
            w.WriteStringValue("streamGenerateContent");
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static string StatusName(int status) => status switch
    {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 or 529 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => status >= 500 ? "UNKNOWN" : "FAILED_PRECONDITION",
    };

    /// <summary>SSE events or the elements of one JSON array.</summary>
    private sealed class Framing(HttpExchange exchange, bool sse)
    {
        private bool _first = true;

        public async Task SendAsync(bool malformable = true)
        {
            if (sse)
            {
                await exchange.SendEventAsync(null, malformable, SseEnd).ConfigureAwait(false);
                return;
            }

            await exchange.SendRawAsync(_first ? ArrayOpen : ArraySeparator).ConfigureAwait(false);
            _first = false;
            await exchange.SendJsonElementAsync(malformable).ConfigureAwait(false);
        }

        /// <summary>
        /// Sends the chunk that carries the finish reason and ends the stream: over SSE that chunk is
        /// the terminal write; in a JSON array the closing bracket is.
        /// </summary>
        public async Task SendLastAsync()
        {
            if (sse)
            {
                exchange.BeginTerminalWrite();
            }

            await SendAsync().ConfigureAwait(false);
            exchange.BeginTerminalWrite();
            await CloseAsync().ConfigureAwait(false);
        }

        public Task CloseAsync() => sse ? Task.CompletedTask : exchange.SendRawAsync(_first ? ArrayOpenClose : ArrayClose);
    }
}
