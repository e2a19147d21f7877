namespace Gateway.Grpc.Simulator;

/// <summary>
/// Behaviour applied to requests that do not override it: pacing, natural length and the
/// global deterministic fault rate. Start values come from <see cref="SimulatorOptions"/>;
/// change them at run time with <see cref="SimulatorState.Defaults"/> or <c>PUT /_sim/config</c>.
/// </summary>
public sealed record SimulatorDefaults
{
    public int TtftMs { get; init; }

    public double TokensPerSecond { get; init; }

    public int? OutputTokens { get; init; }

    public double FaultRate { get; init; }

    public int FaultStatus { get; init; } = 503;

    public int RetryAfterMs { get; init; } = 1000;

    internal static SimulatorDefaults From(SimulatorOptions options) => new()
    {
        TtftMs = options.TtftMs,
        TokensPerSecond = options.TokensPerSecond,
        OutputTokens = options.OutputTokens,
        FaultRate = options.FaultRate,
        FaultStatus = options.FaultStatus,
        RetryAfterMs = options.RetryAfterMs,
    };
}
