using Gateway.V1;
using Google.Protobuf.WellKnownTypes;
using Polly;

namespace Gateway.Grpc.Server.Dispatch;

/// <summary>Per-call dispatch state: the caller's deadline, what was tried, what failed.</summary>
internal sealed class CallState(CompletionRequest request, DateTime deadline, TimeProvider timeProvider, CancellationToken cancellationToken)
{
    public static readonly ResiliencePropertyKey<CallState> Key = new("gateway.call");

    private readonly Lock _lock = new();
    private readonly List<Attempt> _attempts = [];
    private readonly HashSet<string> _failed = new(StringComparer.Ordinal);

    public CompletionRequest Request { get; } = request;

    /// <summary>UTC deadline of the caller, or DateTime.MaxValue.</summary>
    public DateTime Deadline { get; } = deadline;

    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>True once the call moved on to a fallback model group.</summary>
    public bool InFallback { get; set; }

    public TimeSpan Remaining => Deadline == DateTime.MaxValue
        ? Timeout.InfiniteTimeSpan
        : Deadline - timeProvider.GetUtcNow().UtcDateTime;

    public bool HasBudgetFor(TimeSpan needed) => Deadline == DateTime.MaxValue || Remaining > needed;

    public Attempt NewAttempt(DeploymentRuntime deployment, bool hedged)
    {
        lock (_lock)
        {
            var attempt = new Attempt
            {
                Number = _attempts.Count + 1,
                Deployment = deployment.Info.Name,
                Provider = deployment.Info.Provider,
                Hedged = hedged,
                Fallback = InFallback,
            };
            _attempts.Add(attempt);
            return attempt;
        }
    }

    public void Complete(Attempt attempt, AttemptOutcome outcome, TimeSpan latency, string? error = null)
    {
        lock (_lock)
        {
            attempt.Outcome = outcome;
            attempt.Latency = Duration.FromTimeSpan(latency);
            if (error is not null)
            {
                attempt.Error = error;
            }
        }
    }

    public void MarkFailed(DeploymentRuntime deployment)
    {
        lock (_lock)
        {
            _failed.Add(deployment.Info.Name);
        }
    }

    public bool HasFailed(DeploymentRuntime deployment)
    {
        lock (_lock)
        {
            return _failed.Contains(deployment.Info.Name);
        }
    }

    /// <summary>A snapshot of every attempt so far, for the response, the finish event or an error.</summary>
    public RoutingInfo Routing(DeploymentRuntime? served)
    {
        lock (_lock)
        {
            var routing = new RoutingInfo { Deployment = served?.Info.Name ?? "", Provider = served?.Info.Provider ?? "" };
            foreach (var attempt in _attempts)
            {
                routing.Attempts.Add(attempt.Clone());
            }

            return routing;
        }
    }

    /// <summary>Compact ASCII form for the <c>gateway-attempts</c> trailer: <c>1:deployment:outcome[:error][:hedged][:fallback]</c>, comma-separated.</summary>
    public string AttemptsTrailer()
    {
        lock (_lock)
        {
            return string.Join(',', _attempts.Select(a =>
                $"{a.Number}:{a.Deployment}:{OutcomeName(a.Outcome)}" + (a.Error.Length > 0 ? ":" + a.Error : "") + (a.Hedged ? ":hedged" : "") + (a.Fallback ? ":fallback" : "")));
        }
    }

    private static string OutcomeName(AttemptOutcome outcome) => outcome switch
    {
        AttemptOutcome.Success => "success",
        AttemptOutcome.Failed => "failed",
        AttemptOutcome.Cancelled => "cancelled",
        _ => "running",
    };
}
