using System.Diagnostics;
using Gateway.Grpc.Server.Telemetry;
using Gateway.V1;
using Google.Protobuf.WellKnownTypes;
using Polly;

namespace Gateway.Grpc.Server.Dispatch;

/// <summary>Per-call dispatch state: the caller's deadline, what was tried, what failed.</summary>
internal sealed class CallState(CompletionRequest request, DateTime deadline, TimeProvider timeProvider, CancellationToken cancellationToken, DispatchTelemetry? telemetry = null)
{
    public static readonly ResiliencePropertyKey<CallState> Key = new("gateway.call");

    // The first attempt and its span live in fields (most calls make one attempt); later ones go
    // to _more. The state itself is the lock over attempts, spans and the failed set: CallState
    // is internal and never handed out, so nobody else locks on it.
    private Attempt? _first;
    private Activity? _firstTrace;
    private bool _firstEnded;
    private List<(Attempt Attempt, Activity? Trace, bool Ended)>? _more;

    // Made on the first failure: most calls never fail an attempt.
    private HashSet<string>? _failed;

    // True once a hedge started: attempts then run side by side and may end after the call answered.
    private bool _hedged;

    public DispatchTelemetry Telemetry { get; } = telemetry ?? DispatchTelemetry.None;

    public CompletionRequest Request { get; } = request;

    /// <summary>UTC deadline of the caller, or DateTime.MaxValue.</summary>
    public DateTime Deadline { get; } = deadline;

    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>
    /// Tokens the call needs of a deployment's context window (prompt + max_tokens), as the
    /// pipeline counted them before dispatch; deployments with a smaller known window are not
    /// chosen. 0: not counted (the prompt fits every window), no deployment is skipped.
    /// </summary>
    public int ContextTokens { get; init; }

    /// <summary>What the call needs of a deployment (vision, tools, json_schema, an output limit); deployments lacking it are not chosen.</summary>
    public Routing.Capability Needs { get; init; }

    /// <summary>
    /// For a stream continued after its upstream failed: the output the caller already has. Each
    /// attempt then sends <see cref="Request"/> with it as the assistant's prefix, in the form the
    /// chosen deployment's provider continues from (see <see cref="Routing.StreamContinuation"/>).
    /// </summary>
    public Routing.ContinuationPrefix? Continuation { get; set; }

    /// <summary>True once the call moved on to a fallback model group.</summary>
    public bool InFallback { get; set; }

    public TimeSpan Remaining => Deadline == DateTime.MaxValue
        ? Timeout.InfiniteTimeSpan
        : Deadline - timeProvider.GetUtcNow().UtcDateTime;

    public bool HasBudgetFor(TimeSpan needed) => Deadline == DateTime.MaxValue || Remaining > needed;

    public Attempt NewAttempt(DeploymentRuntime deployment, bool hedged)
    {
        lock (this)
        {
            _hedged |= hedged;
            var attempt = new Attempt
            {
                Number = AttemptCount + 1,
                Deployment = deployment.Info.Name,
                Provider = deployment.Info.Provider,
                Hedged = hedged,
                Fallback = InFallback,
            };
            var trace = Telemetry.AttemptStarted(deployment, attempt.Number, hedged, InFallback);
            if (_first is null)
            {
                (_first, _firstTrace) = (attempt, trace);
            }
            else
            {
                (_more ??= []).Add((attempt, trace, false));
            }

            return attempt;
        }
    }

    private int AttemptCount => _first is null ? 0 : 1 + (_more?.Count ?? 0);

    private Attempt AttemptAt(int index) => index == 0 ? _first! : _more![index - 1].Attempt;

    /// <param name="endTrace">False when the attempt goes on (a stream after its first event): its span and metrics wait for the end.</param>
    public void Complete(Attempt attempt, AttemptOutcome outcome, TimeSpan latency, string? error = null, bool endTrace = true)
    {
        lock (this)
        {
            attempt.Outcome = outcome;
            attempt.Latency = Duration.FromTimeSpan(latency);
            if (error is not null)
            {
                attempt.Error = error;
            }
        }

        if (endTrace)
        {
            EndTrace(attempt, outcome, latency, error);
        }
        else
        {
            DispatchTelemetry.AttemptFirstToken(TraceOf(attempt), latency);
        }
    }

    /// <summary>Ends an attempt's span and records its metrics, once.</summary>
    public void EndTrace(Attempt attempt, AttemptOutcome outcome, TimeSpan latency, string? error)
    {
        Activity? activity;
        lock (this)
        {
            var index = attempt.Number - 1;
            if (index < 0 || index >= AttemptCount)
            {
                return;
            }

            if (index == 0)
            {
                if (_firstEnded)
                {
                    return;
                }

                (activity, _firstTrace, _firstEnded) = (_firstTrace, null, true);
            }
            else
            {
                var slot = _more![index - 1];
                if (slot.Ended)
                {
                    return;
                }

                activity = slot.Trace;
                _more[index - 1] = (slot.Attempt, null, true);
            }
        }

        Telemetry.AttemptEnded(activity, attempt, outcome, latency, error);
    }

    private Activity? TraceOf(Attempt attempt)
    {
        lock (this)
        {
            var index = attempt.Number - 1;
            return index < 0 || index >= AttemptCount ? null : index == 0 ? _firstTrace : _more![index - 1].Trace;
        }
    }

    public void MarkFailed(DeploymentRuntime deployment)
    {
        lock (this)
        {
            (_failed ??= new HashSet<string>(StringComparer.Ordinal)).Add(deployment.Info.Name);
        }
    }

    public bool HasFailed(DeploymentRuntime deployment)
    {
        lock (this)
        {
            return _failed is not null && _failed.Contains(deployment.Info.Name);
        }
    }

    /// <summary>A snapshot of every attempt so far, for the response, the finish event or an error.</summary>
    /// <param name="finished">
    /// The call's dispatch is over (a unary answer). Without hedges no attempt can still change, so
    /// the attempts themselves go into the routing instead of copies; with hedges a loser may still
    /// be ending while the answer is serialized, so it gets copies like every other snapshot.
    /// </param>
    public RoutingInfo Routing(DeploymentRuntime? served, bool finished = false)
    {
        lock (this)
        {
            var routing = new RoutingInfo { Deployment = served?.Info.Name ?? "", Provider = served?.Info.Provider ?? "" };
            var copy = !finished || _hedged;
            // Sized to the attempts (Google.Protobuf would start at 8 for the first one).
            routing.Attempts.Capacity = AttemptCount;
            for (var i = 0; i < AttemptCount; i++)
            {
                var attempt = AttemptAt(i);
                routing.Attempts.Add(copy ? attempt.Clone() : attempt);
            }

            return routing;
        }
    }

    /// <summary>Compact ASCII form for the <c>gateway-attempts</c> trailer: <c>1:deployment:outcome[:error][:hedged][:fallback]</c>, comma-separated.</summary>
    public string AttemptsTrailer()
    {
        lock (this)
        {
            return string.Join(',', Enumerable.Range(0, AttemptCount).Select(AttemptAt).Select(a =>
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
