using System.Globalization;
using System.Text.Json;
using Gateway.Grpc.Simulator.Generation;
using Gateway.Grpc.Simulator.Internal;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Simulator.Http.Anthropic;

/// <summary>
/// Anthropic Messages (<c>POST /v1/messages</c>): x-api-key + anthropic-version headers, top-level
/// system, content blocks, and named SSE events (message_start ... message_stop, with ping).
/// </summary>
internal sealed class AnthropicDialect : ProviderDialect
{
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] MessageStart = "message_start"u8.ToArray();
    private static readonly byte[] ContentBlockStart = "content_block_start"u8.ToArray();
    private static readonly byte[] ContentBlockDelta = "content_block_delta"u8.ToArray();
    private static readonly byte[] ContentBlockStop = "content_block_stop"u8.ToArray();
    private static readonly byte[] MessageDelta = "message_delta"u8.ToArray();
    private static readonly byte[] MessageStop = "message_stop"u8.ToArray();
    private static readonly byte[] Ping = "ping"u8.ToArray();
    private static readonly byte[] Error = "error"u8.ToArray();

    public override string Api => "anthropic";

    public override string StreamContentType => "text/event-stream; charset=utf-8";

    public override ApiError? Authorize(HttpContext context, string? requiredKey)
    {
        var key = context.Request.Headers["x-api-key"].ToString();
        if (key.Length == 0)
        {
            var authorization = context.Request.Headers.Authorization.ToString();
            if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                key = authorization["Bearer ".Length..].Trim();
            }
        }

        if (key.Length == 0)
        {
            return new ApiError(401, "x-api-key header is required");
        }

        return requiredKey is not null && !string.Equals(key, requiredKey, StringComparison.Ordinal)
            ? new ApiError(401, "invalid x-api-key")
            : null;
    }

    public override ApiError? CheckRequest(HttpContext context)
        => context.Request.Headers["anthropic-version"].ToString().Length == 0
            ? new ApiError(400, "anthropic-version: header is required")
            : null;

    public override void AddResponseHeaders(HttpExchange exchange)
    {
        var headers = exchange.Context.Response.Headers;
        headers["request-id"] = RequestId(exchange);
        headers["anthropic-organization-id"] = "00000000-0000-4000-8000-000000000000";
        headers["anthropic-ratelimit-requests-limit"] = "4000";
        headers["anthropic-ratelimit-requests-remaining"] = "3999";
        headers["anthropic-ratelimit-tokens-limit"] = "2000000";
        headers["anthropic-ratelimit-tokens-remaining"] = "1999000";
    }

    public override void WriteErrorBody(HttpExchange exchange, ApiError error)
    {
        var w = exchange.BeginJson();
        w.WriteStartObject();
        w.WriteString("type", "error");
        w.WriteStartObject("error");
        w.WriteString("type", ErrorType(error.Status));
        w.WriteString("message", error.Message);
        w.WriteEndObject();
        w.WriteString("request_id", RequestId(exchange));
        w.WriteEndObject();
    }

    public override string DefaultMessage(int status, string? model) => status switch
    {
        400 => "Invalid request.",
        401 => "invalid x-api-key",
        403 => "Your API key does not have permission to use the specified resource.",
        404 => $"model: {model}",
        413 => "Request exceeds the maximum allowed number of bytes.",
        429 => "Number of request tokens has exceeded your per-minute rate limit (https://docs.claude.com/en/api/rate-limits); see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
        500 => "Internal server error",
        504 => "Request timed out",
        529 => "Overloaded",
        _ => status >= 500 ? "Service unavailable" : "Request failed.",
    };

    public override ApiError InvalidJson(string detail) => new(400, "Invalid JSON in request body: " + detail);

    public override SimRequest? ParseChat(JsonElement root, RouteInfo route, out ApiError? error)
    {
        error = null;
        string? problem = null;
        var request = new SimRequest { Model = JsonRead.String(root, "model") ?? "" };
        if (request.Model.Length == 0)
        {
            error = new ApiError(400, "model: Field required");
            return null;
        }

        if (!JsonRead.Has(root, "max_tokens", out _))
        {
            error = new ApiError(400, "max_tokens: Field required");
            return null;
        }

        request.MaxTokens = JsonRead.Int(root, "max_tokens", 1, int.MaxValue, ref problem);
        if (!JsonRead.Has(root, "messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
        {
            error = new ApiError(400, "messages: Field required");
            return null;
        }

        if (JsonRead.Has(root, "system", out var system))
        {
            var text = system.ValueKind == JsonValueKind.String ? system.GetString()! : BlocksText(system, out _, out _);
            request.Messages.Add(new SimMessage(SimRole.System, text));
        }

        var index = 0;
        foreach (var message in messages.EnumerateArray())
        {
            var role = JsonRead.String(message, "role");
            if (role is not "user" and not "assistant")
            {
                error = new ApiError(400, $"messages.{index}.role: Input should be 'user' or 'assistant'");
                return null;
            }

            if (!message.TryGetProperty("content", out var content))
            {
                error = new ApiError(400, $"messages.{index}.content: Field required");
                return null;
            }

            string text;
            var extra = 0;
            var toolResult = false;
            if (content.ValueKind == JsonValueKind.String)
            {
                text = content.GetString()!;
            }
            else if (content.ValueKind == JsonValueKind.Array)
            {
                text = BlocksText(content, out extra, out toolResult);
            }
            else
            {
                error = new ApiError(400, $"messages.{index}.content: Input should be a valid string or a list of content blocks");
                return null;
            }

            request.Messages.Add(new SimMessage(role == "user" ? SimRole.User : SimRole.Assistant, text) { ExtraTokens = extra, HasToolResult = toolResult });
            index++;
        }

        if (request.Messages.Count == 0 || request.Messages[^1].Role == SimRole.System)
        {
            error = new ApiError(400, "messages: at least one message is required");
            return null;
        }

        if (JsonRead.Has(root, "tools", out var tools) && tools.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var tool in tools.EnumerateArray())
            {
                if (JsonRead.String(tool, "name") is not { Length: > 0 } name)
                {
                    error = new ApiError(400, $"tools.{i}.name: Field required");
                    return null;
                }

                // Server tools (web_search_...) have a type and no input_schema; they are listed but never called.
                if (JsonRead.Has(tool, "input_schema", out var schema))
                {
                    request.Tools.Add(new SimTool(name, JsonRead.String(tool, "description") ?? "", schema.Clone()));
                }
                else if (JsonRead.String(tool, "type") is null or "custom")
                {
                    error = new ApiError(400, $"tools.{i}.custom.input_schema: Field required");
                    return null;
                }

                i++;
            }
        }

        if (JsonRead.Has(root, "tool_choice", out var choice))
        {
            var type = JsonRead.String(choice, "type");
            switch (type)
            {
                case "auto":
                    request.ToolChoice = ToolChoiceKind.Auto;
                    break;
                case "any":
                    request.ToolChoice = ToolChoiceKind.Required;
                    break;
                case "none":
                    request.ToolChoice = ToolChoiceKind.None;
                    break;
                case "tool":
                    request.ToolChoice = ToolChoiceKind.Named;
                    request.ToolChoiceName = JsonRead.String(choice, "name");
                    if (request.ToolChoiceName is null)
                    {
                        error = new ApiError(400, "tool_choice.tool.name: Field required");
                        return null;
                    }

                    break;
                default:
                    error = new ApiError(400, $"tool_choice: Input tag '{type}' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'");
                    return null;
            }

            request.ParallelToolCalls = !(JsonRead.Bool(choice, "disable_parallel_tool_use", ref problem) ?? false);
        }

        if (JsonRead.Has(root, "stop_sequences", out var stops) && stops.ValueKind == JsonValueKind.Array)
        {
            foreach (var stop in stops.EnumerateArray())
            {
                if (stop.ValueKind == JsonValueKind.String)
                {
                    request.Stop.Add(stop.GetString()!);
                }
            }
        }

        request.Stream = JsonRead.Bool(root, "stream", ref problem) ?? false;
        if (problem is not null)
        {
            error = new ApiError(400, problem);
            return null;
        }

        return request;
    }

    private static string BlocksText(JsonElement blocks, out int extra, out bool toolResult)
    {
        extra = 0;
        toolResult = false;
        if (blocks.ValueKind != JsonValueKind.Array)
        {
            return "";
        }

        var parts = new List<string>();
        foreach (var block in blocks.EnumerateArray())
        {
            switch (JsonRead.String(block, "type"))
            {
                case "text":
                    parts.Add(JsonRead.String(block, "text") ?? "");
                    break;
                case "tool_use":
                    extra += TokenCounter.Count(JsonRead.String(block, "name")) + (block.TryGetProperty("input", out var input) ? TokenCounter.Count(input.GetRawText()) : 0);
                    break;
                case "tool_result":
                    toolResult = true;
                    if (block.TryGetProperty("content", out var result))
                    {
                        parts.Add(result.ValueKind == JsonValueKind.String ? result.GetString()! : BlocksText(result, out _, out _));
                    }

                    break;
                case "thinking" or "redacted_thinking":
                    break;
                default:
                    // image, document, search_result: a flat cost.
                    extra += 85;
                    break;
            }
        }

        return string.Join("\n", parts);
    }

    public override async Task WriteChatAsync(HttpExchange exchange, SimRequest request, SimPlan plan)
    {
        var id = "msg_01" + plan.Seed.ToString("x16", CultureInfo.InvariantCulture) + ((uint)exchange.Record.Id).ToString("x6", CultureInfo.InvariantCulture);
        if (!request.Stream)
        {
            await exchange.PaceUnaryAsync(plan.StreamUnits).ConfigureAwait(false);
            var w = exchange.BeginJson();
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("type", "message");
            w.WriteString("role", "assistant");
            w.WriteString("model", request.Model);
            w.WriteStartArray("content");
            if (plan.TextTokens.Count > 0)
            {
                w.WriteStartObject();
                w.WriteString("type", "text");
                w.WriteString("text", plan.Text);
                w.WriteEndObject();
            }

            foreach (var call in plan.ToolCalls)
            {
                w.WriteStartObject();
                w.WriteString("type", "tool_use");
                w.WriteString("id", "toolu_01" + call.IdSuffix);
                w.WriteString("name", call.Name);
                w.WritePropertyName("input");
                WriteInput(w, call.Arguments);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            WriteStop(w, plan);
            w.WritePropertyName("usage");
            WriteUsage(w, plan, plan.OutputTokens);
            w.WriteEndObject();
            await exchange.SendJsonAsync(StatusCodes.Status200OK).ConfigureAwait(false);
            return;
        }

        await exchange.StartStreamAsync(StreamContentType).ConfigureAwait(false);
        var m = exchange.BeginJson();
        m.WriteStartObject();
        m.WriteString("type", "message_start");
        m.WriteStartObject("message");
        m.WriteString("id", id);
        m.WriteString("type", "message");
        m.WriteString("role", "assistant");
        m.WriteString("model", request.Model);
        m.WriteStartArray("content");
        m.WriteEndArray();
        m.WriteNull("stop_reason");
        m.WriteNull("stop_sequence");
        m.WritePropertyName("usage");
        WriteUsage(m, plan, 0);
        m.WriteEndObject();
        m.WriteEndObject();
        await exchange.SendEventAsync(MessageStart, malformable: false, EventEnd).ConfigureAwait(false);

        var block = 0;
        if (plan.TextTokens.Count > 0)
        {
            await StartBlockAsync(exchange, block, null).ConfigureAwait(false);
            await PingAsync(exchange).ConfigureAwait(false);
            foreach (var token in plan.TextTokens)
            {
                if (!await exchange.NextUnitAsync().ConfigureAwait(false))
                {
                    return;
                }

                var w = exchange.BeginJson();
                w.WriteStartObject();
                w.WriteString("type", "content_block_delta");
                w.WriteNumber("index", block);
                w.WriteStartObject("delta");
                w.WriteString("type", "text_delta");
                w.WriteString("text", token);
                w.WriteEndObject();
                w.WriteEndObject();
                await exchange.SendEventAsync(ContentBlockDelta, malformable: true, EventEnd).ConfigureAwait(false);
            }

            await StopBlockAsync(exchange, block).ConfigureAwait(false);
            block++;
        }

        foreach (var call in plan.ToolCalls)
        {
            await StartBlockAsync(exchange, block, call).ConfigureAwait(false);
            if (block == 0)
            {
                await PingAsync(exchange).ConfigureAwait(false);
            }

            foreach (var piece in call.Pieces)
            {
                if (!await exchange.NextUnitAsync().ConfigureAwait(false))
                {
                    return;
                }

                var w = exchange.BeginJson();
                w.WriteStartObject();
                w.WriteString("type", "content_block_delta");
                w.WriteNumber("index", block);
                w.WriteStartObject("delta");
                w.WriteString("type", "input_json_delta");
                w.WriteString("partial_json", piece);
                w.WriteEndObject();
                w.WriteEndObject();
                await exchange.SendEventAsync(ContentBlockDelta, malformable: true, EventEnd).ConfigureAwait(false);
            }

            await StopBlockAsync(exchange, block).ConfigureAwait(false);
            block++;
        }

        if (await exchange.InterruptBeforeEndAsync().ConfigureAwait(false))
        {
            return;
        }

        var d = exchange.BeginJson();
        d.WriteStartObject();
        d.WriteString("type", "message_delta");
        d.WriteStartObject("delta");
        WriteStop(d, plan);
        d.WriteEndObject();
        d.WritePropertyName("usage");
        WriteUsage(d, plan, plan.OutputTokens);
        d.WriteEndObject();
        await exchange.SendEventAsync(MessageDelta, malformable: true, EventEnd).ConfigureAwait(false);

        var s = exchange.BeginJson();
        s.WriteStartObject();
        s.WriteString("type", "message_stop");
        s.WriteEndObject();
        exchange.BeginTerminalWrite();
        await exchange.SendEventAsync(MessageStop, malformable: true, EventEnd).ConfigureAwait(false);
    }

    /// <summary><c>event: error</c> with the usual error body (mid-stream overloaded_error is the classic).</summary>
    public override Task WriteStreamErrorAsync(HttpExchange exchange, ApiError error)
    {
        WriteErrorBody(exchange, error);
        return exchange.SendEventAsync(Error, malformable: false, EventEnd);
    }

    private static Task StartBlockAsync(HttpExchange exchange, int index, SimToolCall? call)
    {
        var w = exchange.BeginJson();
        w.WriteStartObject();
        w.WriteString("type", "content_block_start");
        w.WriteNumber("index", index);
        w.WriteStartObject("content_block");
        if (call is null)
        {
            w.WriteString("type", "text");
            w.WriteString("text", "");
        }
        else
        {
            w.WriteString("type", "tool_use");
            w.WriteString("id", "toolu_01" + call.IdSuffix);
            w.WriteString("name", call.Name);
            w.WriteStartObject("input");
            w.WriteEndObject();
        }

        w.WriteEndObject();
        w.WriteEndObject();
        return exchange.SendEventAsync(ContentBlockStart, malformable: false, EventEnd);
    }

    private static Task StopBlockAsync(HttpExchange exchange, int index)
    {
        var w = exchange.BeginJson();
        w.WriteStartObject();
        w.WriteString("type", "content_block_stop");
        w.WriteNumber("index", index);
        w.WriteEndObject();
        return exchange.SendEventAsync(ContentBlockStop, malformable: true, EventEnd);
    }

    private static Task PingAsync(HttpExchange exchange)
    {
        var w = exchange.BeginJson();
        w.WriteStartObject();
        w.WriteString("type", "ping");
        w.WriteEndObject();
        return exchange.SendEventAsync(Ping, malformable: false, EventEnd);
    }

    private static void WriteStop(Utf8JsonWriter w, SimPlan plan)
    {
        w.WriteString("stop_reason", plan.Finish switch
        {
            SimFinish.Length => "max_tokens",
            SimFinish.ToolCalls => "tool_use",
            SimFinish.StopSequence => "stop_sequence",
            _ => "end_turn",
        });
        if (plan.StopSequence is { } sequence)
        {
            w.WriteString("stop_sequence", sequence);
        }
        else
        {
            w.WriteNull("stop_sequence");
        }
    }

    /// <summary>Anthropic's input_tokens excludes cache reads, which are reported separately.</summary>
    private static void WriteUsage(Utf8JsonWriter w, SimPlan plan, int outputTokens)
    {
        w.WriteStartObject();
        w.WriteNumber("input_tokens", plan.InputTokens - plan.CachedTokens);
        w.WriteNumber("cache_creation_input_tokens", 0);
        w.WriteNumber("cache_read_input_tokens", plan.CachedTokens);
        w.WriteNumber("output_tokens", outputTokens);
        w.WriteString("service_tier", "standard");
        w.WriteEndObject();
    }

    /// <summary>Tool input is a JSON object; arguments cut short by max_tokens are not valid JSON, so send {}.</summary>
    private static void WriteInput(Utf8JsonWriter w, string arguments)
    {
        try
        {
            using var document = JsonDocument.Parse(arguments);
            document.RootElement.WriteTo(w);
        }
        catch (JsonException)
        {
            w.WriteStartObject();
            w.WriteEndObject();
        }
    }

    public override Task WriteModelsAsync(HttpExchange exchange, IList<string> models, string? single)
    {
        var w = exchange.BeginJson();
        w.WriteStartObject();
        w.WriteStartArray("data");
        foreach (var model in models)
        {
            w.WriteStartObject();
            w.WriteString("type", "model");
            w.WriteString("id", model);
            w.WriteString("display_name", model);
            w.WriteString("created_at", "2025-01-01T00:00:00Z");
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteBoolean("has_more", false);
        WriteNullableString(w, "first_id", models.Count > 0 ? models[0] : null);
        WriteNullableString(w, "last_id", models.Count > 0 ? models[^1] : null);
        w.WriteEndObject();
        return exchange.SendJsonAsync(StatusCodes.Status200OK);
    }

    private static void WriteNullableString(Utf8JsonWriter w, string name, string? value)
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

    private static string ErrorType(int status) => status switch
    {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        _ => status >= 500 ? "api_error" : "invalid_request_error",
    };

    private static string RequestId(HttpExchange exchange) => "req_011Sim" + exchange.Record.Id.ToString("x16", CultureInfo.InvariantCulture);
}
