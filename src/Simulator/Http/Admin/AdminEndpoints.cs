using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Simulator.Http.Admin;

/// <summary>
/// The admin API under <c>/_sim</c>: scripted faults, the request log, run-time defaults.
/// A thin JSON layer over <see cref="SimulatorState"/>.
/// </summary>
internal static class AdminEndpoints
{
    private static readonly string[] FaultFields =
    [
        "api", "model", "count", "status", "message", "retryAfterMs", "latencyMs", "ttftMs", "tokensPerSecond",
        "outputTokens", "cachedTokens", "disconnectAfter", "errorAfter", "malformed", "hang",
    ];

    private static readonly string[] ConfigFields = ["ttftMs", "tokensPerSecond", "outputTokens", "faultRate", "faultStatus", "retryAfterMs"];

    public static void MapAdminEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var state = endpoints.ServiceProvider.GetRequiredService<SimulatorState>();
        endpoints.MapGet("/healthz", context => WriteAsync(context, 200, w => w.WriteString("status", "ok")));

        endpoints.MapPost("/_sim/faults", context => PostFaultsAsync(context, state));
        endpoints.MapGet("/_sim/faults", context => WriteArrayAsync(context, w =>
        {
            foreach (var pending in state.PendingFaults)
            {
                WriteFault(w, pending.Script, pending.Remaining);
            }
        }));
        endpoints.MapDelete("/_sim/faults", context =>
        {
            var count = state.PendingFaults.Count;
            state.ClearFaults();
            return WriteAsync(context, 200, w => w.WriteNumber("cleared", count));
        });

        endpoints.MapGet("/_sim/requests", context =>
        {
            long.TryParse(context.Request.Query["since"], NumberStyles.None, CultureInfo.InvariantCulture, out var since);
            return WriteArrayAsync(context, w =>
            {
                foreach (var record in state.Requests)
                {
                    if (record.Id > since)
                    {
                        WriteRecord(w, record);
                    }
                }
            });
        });
        endpoints.MapGet("/_sim/requests/{id:long}", context => GetRequestAsync(context, state));
        endpoints.MapDelete("/_sim/requests", context =>
        {
            var count = state.Requests.Count;
            state.ClearRequests();
            return WriteAsync(context, 200, w => w.WriteNumber("cleared", count));
        });

        endpoints.MapGet("/_sim/config", context => WriteAsync(context, 200, w => WriteDefaults(w, state.Defaults)));
        endpoints.MapPut("/_sim/config", context => PutConfigAsync(context, state));
    }

    private static async Task PostFaultsAsync(HttpContext context, SimulatorState state)
    {
        using var document = await ReadJsonAsync(context).ConfigureAwait(false);
        if (document is null)
        {
            return;
        }

        var root = document.RootElement;
        var items = new List<JsonElement>();
        if (root.ValueKind == JsonValueKind.Array)
        {
            items.AddRange(root.EnumerateArray());
        }
        else
        {
            items.Add(root);
        }

        var scripts = new List<FaultScript>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            var script = ParseFault(items[i], out var error);
            if (script is null)
            {
                await ErrorAsync(context, items.Count > 1 ? $"faults[{i}]: {error}" : error!).ConfigureAwait(false);
                return;
            }

            scripts.Add(script);
        }

        foreach (var script in scripts)
        {
            state.EnqueueFault(script);
        }

        var pending = state.PendingFaults;
        await WriteAsync(context, 200, w =>
        {
            w.WriteNumber("queued", scripts.Count);
            w.WriteStartArray("pending");
            foreach (var p in pending)
            {
                WriteFault(w, p.Script, p.Remaining);
            }

            w.WriteEndArray();
        }).ConfigureAwait(false);
    }

    private static FaultScript? ParseFault(JsonElement item, out string? error)
    {
        error = null;
        if (item.ValueKind != JsonValueKind.Object)
        {
            error = "each fault must be a JSON object, e.g. {\"status\":503,\"count\":2}.";
            return null;
        }

        foreach (var property in item.EnumerateObject())
        {
            if (Array.IndexOf(FaultFields, property.Name) < 0)
            {
                error = $"unknown field '{property.Name}'. Known fields: {string.Join(", ", FaultFields)}.";
                return null;
            }
        }

        var script = new FaultScript
        {
            Api = Str(item, "api", ref error),
            Model = Str(item, "model", ref error),
            Count = Int(item, "count", ref error) ?? 1,
            Status = Int(item, "status", ref error),
            Message = Str(item, "message", ref error),
            RetryAfterMs = Int(item, "retryAfterMs", ref error),
            LatencyMs = Int(item, "latencyMs", ref error),
            TtftMs = Int(item, "ttftMs", ref error),
            TokensPerSecond = Num(item, "tokensPerSecond", ref error),
            OutputTokens = Int(item, "outputTokens", ref error),
            CachedTokens = Int(item, "cachedTokens", ref error),
            DisconnectAfter = Int(item, "disconnectAfter", ref error),
            ErrorAfter = Int(item, "errorAfter", ref error),
            Malformed = Bool(item, "malformed", ref error) ?? false,
            Hang = Bool(item, "hang", ref error) ?? false,
        };
        if (error is not null)
        {
            return null;
        }

        var problems = Faults.FaultValidation.Validate(script);
        if (problems.Count > 0)
        {
            error = string.Join(" ", problems);
            return null;
        }

        return script;
    }

    private static async Task PutConfigAsync(HttpContext context, SimulatorState state)
    {
        using var document = await ReadJsonAsync(context).ConfigureAwait(false);
        if (document is null)
        {
            return;
        }

        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            await ErrorAsync(context, "the body must be a JSON object, e.g. {\"faultRate\":0.2,\"faultStatus\":503}.").ConfigureAwait(false);
            return;
        }

        foreach (var property in root.EnumerateObject())
        {
            if (Array.IndexOf(ConfigFields, property.Name) < 0)
            {
                await ErrorAsync(context, $"unknown field '{property.Name}'. Known fields: {string.Join(", ", ConfigFields)}.").ConfigureAwait(false);
                return;
            }
        }

        string? error = null;
        var current = state.Defaults;
        var updated = current with
        {
            TtftMs = Int(root, "ttftMs", ref error) ?? current.TtftMs,
            TokensPerSecond = Num(root, "tokensPerSecond", ref error) ?? current.TokensPerSecond,
            OutputTokens = root.TryGetProperty("outputTokens", out var output) && output.ValueKind == JsonValueKind.Null ? null : Int(root, "outputTokens", ref error) ?? current.OutputTokens,
            FaultRate = Num(root, "faultRate", ref error) ?? current.FaultRate,
            FaultStatus = Int(root, "faultStatus", ref error) ?? current.FaultStatus,
            RetryAfterMs = Int(root, "retryAfterMs", ref error) ?? current.RetryAfterMs,
        };
        error ??= updated switch
        {
            { TtftMs: < 0 } => "ttftMs must be >= 0.",
            { TokensPerSecond: < 0 } => "tokensPerSecond must be >= 0 (0 = no pacing).",
            { OutputTokens: < 1 or > 100_000 } => "outputTokens must be between 1 and 100000, or null.",
            { FaultRate: < 0 or > 1 } => "faultRate must be between 0 and 1.",
            { FaultStatus: < 400 or > 599 } => "faultStatus must be an HTTP error status 400-599.",
            { RetryAfterMs: < 0 } => "retryAfterMs must be >= 0.",
            _ => null,
        };
        if (error is not null)
        {
            await ErrorAsync(context, error).ConfigureAwait(false);
            return;
        }

        state.Defaults = updated;
        await WriteAsync(context, 200, w => WriteDefaults(w, updated)).ConfigureAwait(false);
    }

    private static async Task GetRequestAsync(HttpContext context, SimulatorState state)
    {
        var id = long.Parse((string)context.Request.RouteValues["id"]!, CultureInfo.InvariantCulture);
        var wait = context.Request.Query["wait"].ToString();
        if (wait is "end" or "start")
        {
            // Long-poll: ?wait=end&timeoutMs=5000 returns once the request has ended (or started).
            var timeoutMs = int.TryParse(context.Request.Query["timeoutMs"], NumberStyles.None, CultureInfo.InvariantCulture, out var t) ? t : 30_000;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            timeout.CancelAfter(TimeSpan.FromMilliseconds(timeoutMs));
            try
            {
                var record = wait == "end"
                    ? await state.WaitForEndAsync(id, timeout.Token).ConfigureAwait(false)
                    : await state.WaitForStartAsync(id, timeout.Token).ConfigureAwait(false);
                await WriteAsync(context, 200, w => WriteRecordBody(w, record)).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
            {
                await ErrorAsync(context, $"request {id} did not {(wait == "end" ? "end" : "start")} within {timeoutMs} ms.", 408).ConfigureAwait(false);
            }
            catch (InvalidOperationException ex)
            {
                await ErrorAsync(context, ex.Message, 404).ConfigureAwait(false);
            }

            return;
        }

        if (wait.Length > 0)
        {
            await ErrorAsync(context, $"wait must be 'start' or 'end' (got '{wait}').").ConfigureAwait(false);
            return;
        }

        var found = state.GetRequest(id);
        if (found is null)
        {
            await ErrorAsync(context, $"request {id} is not in the log.", 404).ConfigureAwait(false);
            return;
        }

        await WriteAsync(context, 200, w => WriteRecordBody(w, found)).ConfigureAwait(false);
    }

    private static void WriteRecord(Utf8JsonWriter w, RequestRecord record)
    {
        w.WriteStartObject();
        WriteRecordBody(w, record);
        w.WriteEndObject();
    }

    private static void WriteRecordBody(Utf8JsonWriter w, RequestRecord record)
    {
        w.WriteNumber("id", record.Id);
        w.WriteString("api", record.Api);
        w.WriteString("method", record.Method);
        w.WriteString("path", record.Path);
        NullableString(w, "model", record.Model);
        w.WriteBoolean("stream", record.Stream);
        w.WriteStartObject("headers");
        foreach (var (name, value) in record.Headers)
        {
            w.WriteString(name, value);
        }

        w.WriteEndObject();
        w.WriteString("body", record.Body);
        w.WriteString("startedAt", record.StartedAt);
        if (record.EndedAt is { } ended)
        {
            w.WriteString("endedAt", ended);
        }
        else
        {
            w.WriteNull("endedAt");
        }

        NullableInt(w, "status", record.Status);
        if (record.Api == "grpc")
        {
            NullableInt(w, "grpcStatus", record.GrpcStatus);
        }

        w.WriteBoolean("aborted", record.Aborted);
        w.WriteBoolean("disconnected", record.Disconnected);
        NullableInt(w, "servedInputTokens", record.ServedInputTokens);
        NullableInt(w, "servedOutputTokens", record.ServedOutputTokens);
        w.WriteStartArray("faults");
        foreach (var fault in record.Faults)
        {
            w.WriteStringValue(fault);
        }

        w.WriteEndArray();
    }

    private static void WriteFault(Utf8JsonWriter w, FaultScript script, int remaining)
    {
        w.WriteStartObject();
        NullableString(w, "api", script.Api);
        NullableString(w, "model", script.Model);
        w.WriteNumber("count", script.Count);
        w.WriteNumber("remaining", remaining);
        NullableInt(w, "status", script.Status);
        NullableString(w, "message", script.Message);
        NullableInt(w, "retryAfterMs", script.RetryAfterMs);
        NullableInt(w, "latencyMs", script.LatencyMs);
        NullableInt(w, "ttftMs", script.TtftMs);
        if (script.TokensPerSecond is { } tps)
        {
            w.WriteNumber("tokensPerSecond", tps);
        }
        else
        {
            w.WriteNull("tokensPerSecond");
        }

        NullableInt(w, "outputTokens", script.OutputTokens);
        NullableInt(w, "cachedTokens", script.CachedTokens);
        NullableInt(w, "disconnectAfter", script.DisconnectAfter);
        NullableInt(w, "errorAfter", script.ErrorAfter);
        w.WriteBoolean("malformed", script.Malformed);
        w.WriteBoolean("hang", script.Hang);
        w.WriteEndObject();
    }

    private static void WriteDefaults(Utf8JsonWriter w, SimulatorDefaults defaults)
    {
        w.WriteNumber("ttftMs", defaults.TtftMs);
        w.WriteNumber("tokensPerSecond", defaults.TokensPerSecond);
        NullableInt(w, "outputTokens", defaults.OutputTokens);
        w.WriteNumber("faultRate", defaults.FaultRate);
        w.WriteNumber("faultStatus", defaults.FaultStatus);
        w.WriteNumber("retryAfterMs", defaults.RetryAfterMs);
    }

    private static async Task<JsonDocument?> ReadJsonAsync(HttpContext context)
    {
        try
        {
            return await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            await ErrorAsync(context, "the body is not valid JSON: " + ex.Message).ConfigureAwait(false);
            return null;
        }
    }

    private static Task ErrorAsync(HttpContext context, string message, int status = 400)
        => WriteAsync(context, status, w => w.WriteString("error", message));

    private static Task WriteArrayAsync(HttpContext context, Action<Utf8JsonWriter> write)
        => WriteAsync(context, 200, w =>
        {
            w.WriteStartArray();
            write(w);
            w.WriteEndArray();
        }, wrap: false);

    private static async Task WriteAsync(HttpContext context, int status, Action<Utf8JsonWriter> write, bool wrap = true)
    {
        var buffer = new ArrayBufferWriter<byte>();
        await using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            if (wrap)
            {
                w.WriteStartObject();
            }

            write(w);
            if (wrap)
            {
                w.WriteEndObject();
            }
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }

    private static void NullableString(Utf8JsonWriter w, string name, string? value)
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

    private static void NullableInt(Utf8JsonWriter w, string name, int? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static string? Str(JsonElement obj, string name, ref string? error)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.String)
        {
            return value.GetString();
        }

        error ??= $"'{name}' must be a string.";
        return null;
    }

    private static int? Int(JsonElement obj, string name, ref string? error)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number))
        {
            return number;
        }

        error ??= $"'{name}' must be an integer.";
        return null;
    }

    private static double? Num(JsonElement obj, string name, ref string? error)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.Number)
        {
            return value.GetDouble();
        }

        error ??= $"'{name}' must be a number.";
        return null;
    }

    private static bool? Bool(JsonElement obj, string name, ref string? error)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            return value.GetBoolean();
        }

        error ??= $"'{name}' must be true or false.";
        return null;
    }
}
