using System.Globalization;

namespace Gateway.Grpc.Simulator.Faults;

/// <summary>What the simulator does to one request: the merge of headers, a scripted fault and the defaults.</summary>
internal sealed class FaultSettings
{
    public int? Status { get; set; }

    public int? GrpcStatus { get; set; }

    public string? Message { get; set; }

    /// <summary>Null: send no retry-after headers.</summary>
    public int? RetryAfterMs { get; set; }

    public int LatencyMs { get; set; }

    public int TtftMs { get; set; }

    public double TokensPerSecond { get; set; }

    public int? OutputTokens { get; set; }

    public int? CachedTokens { get; set; }

    public int? DisconnectAfter { get; set; }

    /// <summary>Echo the last user message in pieces of this many characters (x-sim-echo).</summary>
    public int? Echo { get; set; }

    /// <summary>Tokens before an in-stream error event (streams only).</summary>
    public int? ErrorAfter { get; set; }

    public bool Malformed { get; set; }

    public bool Hang { get; set; }

    /// <summary>Status of the in-stream error (x-sim-status, default 500).</summary>
    public int StreamErrorStatus => Status ?? 500;

    public void Describe(RequestRecord record)
    {
        if (Status is { } status)
        {
            record.AddFault("status:" + status.ToString(CultureInfo.InvariantCulture));
        }

        if (GrpcStatus is { } grpc)
        {
            record.AddFault("grpc-status:" + grpc.ToString(CultureInfo.InvariantCulture));
        }

        if (LatencyMs > 0)
        {
            record.AddFault("latency:" + LatencyMs.ToString(CultureInfo.InvariantCulture));
        }

        if (DisconnectAfter is { } after)
        {
            record.AddFault("disconnect:" + after.ToString(CultureInfo.InvariantCulture));
        }

        if (ErrorAfter is { } errorAfter)
        {
            record.AddFault("error-after:" + errorAfter.ToString(CultureInfo.InvariantCulture));
        }

        if (Malformed)
        {
            record.AddFault("malformed");
        }

        if (Hang)
        {
            record.AddFault("hang");
        }
    }
}

/// <summary>Reads the x-sim-* headers and merges them with the scripted queue and the defaults.</summary>
internal static class FaultResolver
{
    /// <summary>
    /// Resolves the faults for one generation request. Returns null and sets <paramref name="error"/>
    /// when a header has a bad value (the caller answers 400 naming it).
    /// </summary>
    public static FaultSettings? Resolve(Func<string, string?> header, string api, string? model, SimulatorState state, out string? error)
    {
        var fromHeaders = ParseHeaders(header, out error);
        if (error is not null)
        {
            return null;
        }

        var defaults = state.Defaults;
        var script = state.TakeScriptedFault(api, model);
        var global = state.NextIsGlobalFault(defaults);
        var settings = new FaultSettings
        {
            Status = fromHeaders.Status ?? script?.Status ?? (global ? defaults.FaultStatus : null),
            GrpcStatus = fromHeaders.GrpcStatus,
            Message = fromHeaders.Message ?? script?.Message,
            LatencyMs = fromHeaders.LatencyMs ?? script?.LatencyMs ?? 0,
            TtftMs = fromHeaders.TtftMs ?? script?.TtftMs ?? defaults.TtftMs,
            TokensPerSecond = fromHeaders.TokensPerSecond ?? script?.TokensPerSecond ?? defaults.TokensPerSecond,
            OutputTokens = fromHeaders.OutputTokens ?? script?.OutputTokens ?? defaults.OutputTokens,
            CachedTokens = fromHeaders.CachedTokens ?? script?.CachedTokens,
            DisconnectAfter = fromHeaders.DisconnectAfter ?? script?.DisconnectAfter,
            Echo = fromHeaders.Echo ?? script?.Echo,
            ErrorAfter = fromHeaders.ErrorAfter ?? script?.ErrorAfter,
            Malformed = fromHeaders.Malformed ?? script?.Malformed ?? false,
            Hang = fromHeaders.Hang ?? script?.Hang ?? false,
        };

        var retryAfter = fromHeaders.RetryAfterMs ?? script?.RetryAfterMs;
        settings.RetryAfterMs = retryAfter ?? (settings.Status == 429 ? defaults.RetryAfterMs : null);
        return settings;
    }

    private static Parsed ParseHeaders(Func<string, string?> header, out string? error)
    {
        error = null;
        var parsed = new Parsed();
        parsed.Status = Int(header, SimulatorHeaders.Status, 100, 599, ref error);
        if (parsed.Status is < 400)
        {
            // 1xx-3xx: no fault (lets a script turn a queued fault off with x-sim-status: 200).
            parsed.Status = null;
        }

        parsed.GrpcStatus = Int(header, SimulatorHeaders.GrpcStatus, 1, 16, ref error);
        parsed.RetryAfterMs = Int(header, SimulatorHeaders.RetryAfterMs, 0, 86_400_000, ref error);
        parsed.LatencyMs = Int(header, SimulatorHeaders.LatencyMs, 0, 3_600_000, ref error);
        parsed.TtftMs = Int(header, SimulatorHeaders.TtftMs, 0, 3_600_000, ref error);
        parsed.OutputTokens = Int(header, SimulatorHeaders.OutputTokens, 1, 100_000, ref error);
        parsed.CachedTokens = Int(header, SimulatorHeaders.CachedTokens, 0, 10_000_000, ref error);
        parsed.DisconnectAfter = Int(header, SimulatorHeaders.DisconnectAfter, 0, 100_000, ref error);
        parsed.Echo = Int(header, SimulatorHeaders.Echo, 1, 1000, ref error);
        parsed.ErrorAfter = Int(header, SimulatorHeaders.ErrorAfter, 0, 100_000, ref error);
        parsed.Malformed = Flag(header, SimulatorHeaders.Malformed, ref error);
        parsed.Hang = Flag(header, SimulatorHeaders.Hang, ref error);
        var message = header(SimulatorHeaders.Message);
        parsed.Message = string.IsNullOrEmpty(message) ? null : message;
        var tps = header(SimulatorHeaders.TokensPerSecond);
        if (!string.IsNullOrEmpty(tps))
        {
            if (double.TryParse(tps, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= 0 && double.IsFinite(value))
            {
                parsed.TokensPerSecond = value;
            }
            else
            {
                error ??= $"{SimulatorHeaders.TokensPerSecond}: '{tps}' is not a number >= 0 (0 = no pacing).";
            }
        }

        return parsed;
    }

    private static int? Int(Func<string, string?> header, string name, int min, int max, ref string? error)
    {
        var text = header(name);
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        error ??= $"{name}: '{text}' is not an integer between {min} and {max}.";
        return null;
    }

    private static bool? Flag(Func<string, string?> header, string name, ref string? error)
    {
        var text = header(name);
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        if (text is "1" || string.Equals(text, "true", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (text is "0" || string.Equals(text, "false", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        error ??= $"{name}: '{text}' must be 1/true or 0/false.";
        return null;
    }

    private sealed class Parsed
    {
        public int? Status { get; set; }

        public int? GrpcStatus { get; set; }

        public string? Message { get; set; }

        public int? RetryAfterMs { get; set; }

        public int? LatencyMs { get; set; }

        public int? TtftMs { get; set; }

        public double? TokensPerSecond { get; set; }

        public int? OutputTokens { get; set; }

        public int? CachedTokens { get; set; }

        public int? DisconnectAfter { get; set; }

        public int? Echo { get; set; }

        public int? ErrorAfter { get; set; }

        public bool? Malformed { get; set; }

        public bool? Hang { get; set; }
    }
}

/// <summary>Checks a <see cref="FaultScript"/>; one message per problem.</summary>
internal static class FaultValidation
{
    private static readonly string[] Apis = ["openai", "azure", "anthropic", "gemini", "grpc"];

    public static List<string> Validate(FaultScript script)
    {
        var errors = new List<string>();
        if (script.Api is not null && Array.IndexOf(Apis, script.Api.ToLowerInvariant()) < 0)
        {
            errors.Add($"api '{script.Api}' is not one of {string.Join(", ", Apis)}.");
        }

        if (script.Count < 1)
        {
            errors.Add($"count must be >= 1 (got {script.Count}).");
        }

        if (script.Status is { } status && (status < 400 || status > 599))
        {
            errors.Add($"status must be an HTTP error status 400-599 (got {status}).");
        }

        Check(errors, "retryAfterMs", script.RetryAfterMs, 0);
        Check(errors, "latencyMs", script.LatencyMs, 0);
        Check(errors, "ttftMs", script.TtftMs, 0);
        Check(errors, "outputTokens", script.OutputTokens, 1);
        Check(errors, "cachedTokens", script.CachedTokens, 0);
        Check(errors, "disconnectAfter", script.DisconnectAfter, 0);
        Check(errors, "echo", script.Echo, 1);
        Check(errors, "errorAfter", script.ErrorAfter, 0);
        if (script.TokensPerSecond is { } tps && (tps < 0 || !double.IsFinite(tps)))
        {
            errors.Add($"tokensPerSecond must be a number >= 0 (got {tps}).");
        }

        return errors;
    }

    private static void Check(List<string> errors, string name, int? value, int min)
    {
        if (value is { } v && v < min)
        {
            errors.Add($"{name} must be >= {min} (got {v}).");
        }
    }
}
