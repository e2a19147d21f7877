using System.Globalization;
using Gateway.Grpc.Governance.Budgets;
using Gateway.Grpc.Governance.Keys;
using Gateway.Grpc.Governance.Ledger;
using Gateway.Grpc.Governance.Limits;
using Gateway.Grpc.Governance.Pricing;
using Gateway.Grpc.Governance.Storage;
using Grpc.Core;
using Gateway.V1;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Governance;

/// <summary>Governance settings the host builds from its configuration.</summary>
public sealed class GovernanceSettings
{
    /// <summary>True: every call needs a key (virtual key or the master key). False: open dev mode.</summary>
    public bool RequireKeys { get; init; }

    /// <summary>The admin (master) key, resolved from its secret reference at call time.</summary>
    public Func<string?> MasterKey { get; init; } = static () => null;

    public LimitAlgorithm DefaultAlgorithm { get; init; } = LimitAlgorithm.SlidingWindow;

    /// <summary>Output tokens reserved for a call without max_tokens, before its actual usage is known.</summary>
    public int DefaultOutputReservation { get; init; } = 256;

    /// <summary>Output tokens a call is expected to use at most: its max_tokens, else <see cref="DefaultOutputReservation"/>.</summary>
    public int OutputReservation(CompletionRequest request) => request.HasMaxTokens ? request.MaxTokens : DefaultOutputReservation;

    /// <summary>Global limits per public model name (all callers together).</summary>
    public IReadOnlyDictionary<string, LimitSettings> ModelLimits { get; init; } = new Dictionary<string, LimitSettings>();

    /// <summary>Counts a request's prompt tokens (tokenizer, or an estimate).</summary>
    public Func<CompletionRequest, int> CountPromptTokens { get; init; } = static _ => 0;

    /// <summary>
    /// The upstream model names a public model can be served by, for pricing a call's estimated
    /// cost against a budget before it runs (the dearest of them is reserved).
    /// </summary>
    public Func<string, IReadOnlyList<string>> PricedModelsOf { get; init; } = static model => [model];

    /// <summary>
    /// How long a call's settlement waits for its ledger row to be committed to the store before the
    /// answer goes out (0: not at all, the row is only queued). With several replicas a replica
    /// killed with rows in its queue would lose them; waiting makes every answered call durable
    /// first. Skipped while the store is failing (rows then stay queued, the call is not held up).
    /// </summary>
    public TimeSpan LedgerCommitWait { get; init; }
}

/// <summary>What a call needs to know when it is admitted.</summary>
public readonly record struct CallInfo(string RequestId, string Route, bool Stream);

/// <summary>
/// How a call ended, for settlement, spend and the ledger. A value (copied, never shared): a
/// settlement that completes at once (the usual case) allocates nothing for it.
/// </summary>
public readonly record struct CallOutcome
{
    public CallOutcome()
    {
    }

    public string Deployment { get; init; } = "";

    public string Provider { get; init; } = "";

    /// <summary>The upstream model name used for pricing ("" = the public name).</summary>
    public string PricedModel { get; init; } = "";

    public long InputTokens { get; init; }

    public long OutputTokens { get; init; }

    public long CachedInputTokens { get; init; }

    public bool Estimated { get; init; }

    /// <summary>Tokens spent by attempts whose answer was not used (hedge losers, failed streams).</summary>
    public long AbandonedInputTokens { get; init; }

    public long AbandonedOutputTokens { get; init; }

    public StatusCode Status { get; init; }

    public int Attempts { get; init; }

    public long? TimeToFirstTokenMs { get; init; }

    /// <summary>"hit_exact" or "hit_semantic" when the response cache answered; "" otherwise.</summary>
    public string Cache { get; init; } = "";

    /// <summary>For a cache hit: what the cached answer cost when it was made (not spent again).</summary>
    public decimal SavedCostUsd { get; init; }

    /// <summary>
    /// Usage of attempts priced at another model than <see cref="PricedModel"/>: earlier cascade
    /// stages, the first part of a stream continued elsewhere. Null for almost every call.
    /// </summary>
    public IReadOnlyList<PricedUsage>? OtherUsage { get; init; }
}

/// <summary>Tokens of one attempt and the upstream model they are priced at; <c>Abandoned</c>: its answer was not used.</summary>
public readonly record struct PricedUsage(string PricedModel, long InputTokens, long OutputTokens, bool Abandoned);

/// <summary>
/// The governance gate every route goes through: authentication, model allow-lists, per-request
/// token caps, budgets, and rate limits per key, team and model; then, when the call ends,
/// token settlement, spend and one ledger row.
/// </summary>
public sealed partial class GovernanceService(
    GovernanceSettings settings,
    KeyAuthenticator authenticator,
    IRateLimitBackend limits,
    BudgetTracker budgets,
    IPricing pricing,
    ILedgerSink ledger,
    TimeProvider timeProvider,
    ILogger<GovernanceService> logger,
    JwtAuthenticator? jwt = null)
{
    public const string ErrorKindTrailer = "gateway-error-kind";
    public const string RetryAfterTrailer = "retry-after-ms";

    public GovernanceSettings Settings => settings;

    /// <summary>Authenticates without admitting a call (admin API, model listing).</summary>
    public async ValueTask<Principal> AuthenticateAsync(string? presentedKey, CancellationToken cancellationToken)
    {
        if (!settings.RequireKeys && string.IsNullOrEmpty(presentedKey))
        {
            return Principal.Anonymous;
        }

        // A credential shaped like a JWT goes to JWT validation when JWTs are configured; anything
        // else (virtual keys, the master key) stays on the key path. A JWT that fails is refused
        // even in open dev mode: its caller meant to authenticate and should learn why it did not.
        if (jwt is not null && JwtAuthenticator.LooksLikeJwt(presentedKey))
        {
            var result = await jwt.AuthenticateAsync(presentedKey!, cancellationToken).ConfigureAwait(false);
            return result.Principal ?? throw new RpcException(
                new Status(result.KeysUnavailable ? StatusCode.Unavailable : StatusCode.Unauthenticated, "Invalid bearer token: " + result.Error),
                new Metadata { { ErrorKindTrailer, result.KeysUnavailable ? "jwks_unavailable" : "invalid_token" } });
        }

        var (principal, failure) = await authenticator.AuthenticateAsync(presentedKey, cancellationToken).ConfigureAwait(false);
        if (principal is not null)
        {
            return principal;
        }

        // Open dev mode: SDKs insist on some key, so one we do not know is ignored. A known key that
        // was revoked or expired is still refused: its owner should learn that now, not in production.
        if (!settings.RequireKeys && failure is AuthFailure.Missing or AuthFailure.Invalid)
        {
            return Principal.Anonymous;
        }

        throw new RpcException(new Status(StatusCode.Unauthenticated, failure switch
        {
            AuthFailure.Missing => "Missing API key: send 'authorization: Bearer <key>'.",
            AuthFailure.Revoked => "API key has been revoked.",
            AuthFailure.Expired => "API key has expired.",
            _ => "Invalid API key.",
        }), new Metadata { { ErrorKindTrailer, "invalid_api_key" } });
    }

    public async ValueTask<Admission> AdmitAsync(string? presentedKey, CompletionRequest request, CallInfo call, CancellationToken cancellationToken)
        => await AdmitAsync(await AuthenticateAsync(presentedKey, cancellationToken).ConfigureAwait(false), request, call, cancellationToken).ConfigureAwait(false);

    /// <summary>Admits a call of an authenticated principal: allow-list, token cap, budget, rate limits.</summary>
    public async ValueTask<Admission> AdmitAsync(Principal principal, CompletionRequest request, CallInfo call, CancellationToken cancellationToken)
    {
        if (!principal.IsModelAllowed(request.Model))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"model: this key may not use '{request.Model}'."), new Metadata { { ErrorKindTrailer, "model_not_allowed" } });
        }

        ApplyMaxTokens(principal, request);
        var admission = new Admission(this, principal, request, call, timeProvider.GetTimestamp());
        try
        {
            await ReserveBudgetsAsync(admission, cancellationToken).ConfigureAwait(false);

            // The prompt is tokenized only when a tokens-per-minute limit needs the estimate.
            if (principal.Key is { } key)
            {
                await AcquireScopeAsync(admission, "key:" + key.Id, key.Limits, cancellationToken).ConfigureAwait(false);
            }

            if (principal.Team is { } team)
            {
                await AcquireScopeAsync(admission, "team:" + team.Id, team.Limits, cancellationToken).ConfigureAwait(false);
            }

            if (settings.ModelLimits.TryGetValue(request.Model, out var modelLimits))
            {
                await AcquireScopeAsync(admission, "model:" + request.Model, modelLimits, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await admission.RollbackAsync().ConfigureAwait(false);
            throw;
        }

        return admission;
    }

    private static void ApplyMaxTokens(Principal principal, CompletionRequest request)
    {
        var cap = Min(principal.Key?.Limits.MaxTokensPerRequest, principal.Team?.Limits.MaxTokensPerRequest);
        if (cap is not { } limit)
        {
            return;
        }

        if (!request.HasMaxTokens)
        {
            request.MaxTokens = limit;
        }
        else if (request.MaxTokens > limit)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"max_tokens: {request.MaxTokens} exceeds this key's limit of {limit} tokens per request."));
        }
    }

    private static int? Min(int? a, int? b) => a is null ? b : b is null ? a : Math.Min(a.Value, b.Value);

    /// <summary>
    /// Reserves the call's estimated cost (prompt tokens plus max_tokens, at the dearest price the
    /// model can be served at) against the key's and the team's budgets; settled with the actual
    /// cost when the call ends, returned when it is refused.
    /// </summary>
    private async ValueTask ReserveBudgetsAsync(Admission admission, CancellationToken cancellationToken)
    {
        var principal = admission.Principal;
        if (principal.Key is { Limits.MonthlyBudgetUsd: { } keyBudget } key)
        {
            admission.BudgetHolds.Add(await budgets.TryReserveAsync(BudgetTracker.KeyScope(key.Id), keyBudget, EstimateCost(admission), cancellationToken).ConfigureAwait(false)
                ?? throw BudgetExceeded("key", keyBudget));
        }

        if (principal.Team is { Limits.MonthlyBudgetUsd: { } teamBudget } team)
        {
            admission.BudgetHolds.Add(await budgets.TryReserveAsync(BudgetTracker.TeamScope(team.Id), teamBudget, EstimateCost(admission), cancellationToken).ConfigureAwait(false)
                ?? throw BudgetExceeded("team", teamBudget));
        }
    }

    private decimal EstimateCost(Admission admission)
    {
        if (admission.CostEstimate is { } known)
        {
            return known;
        }

        var tokens = EnsureTokenEstimate(admission);
        var request = admission.Request;
        var output = settings.OutputReservation(request);
        var input = Math.Max(0, tokens - output);
        var estimate = 0m;
        foreach (var model in settings.PricedModelsOf(request.Model))
        {
            estimate = Math.Max(estimate, pricing.Cost(model, input, output, 0, out _));
        }

        admission.CostEstimate = estimate;
        return estimate;
    }

    /// <summary>The call's token estimate (prompt + output reservation); the prompt is tokenized once, when first needed.</summary>
    private long EnsureTokenEstimate(Admission admission)
    {
        if (admission.TokenEstimate == 0)
        {
            var request = admission.Request;
            admission.TokenEstimate = settings.CountPromptTokens(request) + settings.OutputReservation(request);
        }

        return admission.TokenEstimate;
    }

    private RpcException BudgetExceeded(string scope, decimal budget)
    {
        var now = timeProvider.GetUtcNow().UtcDateTime;
        var nextMonth = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(1);
        var retryAfter = (long)(nextMonth - now).TotalMilliseconds;
        Log.Refused(logger, "budget_exceeded", scope);
        return new RpcException(
            new Status(StatusCode.ResourceExhausted, $"Budget exceeded: this {scope} has spent its monthly budget of {budget.ToString(CultureInfo.InvariantCulture)} USD."),
            new Metadata { { ErrorKindTrailer, "budget_exceeded" }, { RetryAfterTrailer, retryAfter.ToString(CultureInfo.InvariantCulture) } });
    }

    private async ValueTask AcquireScopeAsync(Admission admission, string scope, LimitSettings limitSettings, CancellationToken cancellationToken)
    {
        var algorithm = limitSettings.Algorithm is { } name ? ParseAlgorithm(name) : settings.DefaultAlgorithm;
        if (limitSettings.RequestsPerMinute is { } rpm)
        {
            var key = scope + ":rpm";
            var result = await limits.TryAcquireAsync(new LimitRequest(key, LimitKind.Requests, rpm, 1, algorithm, ""), cancellationToken).ConfigureAwait(false);
            admission.AddHeaders("requests", rpm, result);
            if (!result.Allowed)
            {
                throw RateLimited(scope, "requests per minute", rpm, result, admission);
            }

            // Kept for the rollback: a call refused by a later limit gives its request back.
            admission.Reservations.Add(new TokenReservation(key, LimitKind.Requests, rpm, algorithm, result.Reservation));
        }

        if (limitSettings.TokensPerMinute is { } tpm)
        {
            var key = scope + ":tpm";
            var result = await limits.TryAcquireAsync(new LimitRequest(key, LimitKind.Tokens, tpm, EnsureTokenEstimate(admission), algorithm, ""), cancellationToken).ConfigureAwait(false);
            admission.AddHeaders("tokens", tpm, result);
            if (!result.Allowed)
            {
                throw RateLimited(scope, "tokens per minute", tpm, result, admission);
            }

            admission.Reservations.Add(new TokenReservation(key, LimitKind.Tokens, tpm, algorithm, result.Reservation));
        }

        if (limitSettings.MaxConcurrentRequests is { } concurrent)
        {
            var key = scope + ":concurrency";
            var result = await limits.TryAcquireAsync(new LimitRequest(key, LimitKind.Concurrency, concurrent, 1, algorithm, admission.Call.RequestId), cancellationToken).ConfigureAwait(false);
            if (!result.Allowed)
            {
                throw RateLimited(scope, "concurrent requests", concurrent, result, admission);
            }

            admission.Leases.Add(key);
        }
    }

    public static LimitAlgorithm ParseAlgorithm(string name) => name.ToLowerInvariant() switch
    {
        "gcra" or "token-bucket" => LimitAlgorithm.Gcra,
        "sliding-window" => LimitAlgorithm.SlidingWindow,
        _ => throw new ArgumentException($"Unknown rate-limit algorithm '{name}' (use gcra or sliding-window).", nameof(name)),
    };

    private RpcException RateLimited(string scope, string what, long limit, LimitResult result, Admission admission)
    {
        Log.Refused(logger, "rate_limited", scope);
        var trailers = new Metadata
        {
            { ErrorKindTrailer, "rate_limited" },
            { RetryAfterTrailer, ((long)Math.Ceiling(result.RetryAfter.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture) },
        };
        foreach (var header in admission.Headers)
        {
            trailers.Add(header);
        }

        var kind = scope[..scope.IndexOf(':', StringComparison.Ordinal)];
        return new RpcException(new Status(StatusCode.ResourceExhausted, $"Rate limit exceeded: {limit} {what} for this {kind}. Retry after {result.RetryAfter.TotalSeconds:0.###} s."), trailers);
    }

    /// <summary>
    /// What a call with this outcome costs: its tokens at the served upstream model's price plus
    /// the prompts of hedges that lost. The figure the ledger records and the answer reports.
    /// </summary>
    public decimal CostOf(CompletionRequest request, CallOutcome outcome) => Price(request, outcome).Total;

    private (decimal Total, decimal Abandoned) Price(CompletionRequest request, CallOutcome outcome)
    {
        var model = outcome.PricedModel.Length > 0 ? outcome.PricedModel : request.Model;
        var cost = pricing.Cost(model, outcome.InputTokens, outcome.OutputTokens, outcome.CachedInputTokens, out _);
        // Most calls abandon nothing (no hedge lost): no second lookup and no decimal arithmetic for them.
        var abandoned = outcome.AbandonedInputTokens > 0 || outcome.AbandonedOutputTokens > 0
            ? pricing.Cost(model, outcome.AbandonedInputTokens, outcome.AbandonedOutputTokens, 0, out _)
            : 0m;
        if (outcome.OtherUsage is { } others)
        {
            foreach (var other in others)
            {
                var part = pricing.Cost(other.PricedModel.Length > 0 ? other.PricedModel : request.Model, other.InputTokens, other.OutputTokens, 0, out _);
                if (other.Abandoned)
                {
                    abandoned += part;
                }
                else
                {
                    cost += part;
                }
            }
        }

        return (cost + abandoned, abandoned);
    }

    /// <summary>
    /// Settles a finished call: token reservations corrected to actual usage, concurrency leases
    /// released, spend added to the budgets, one ledger row. Each step runs even when an earlier
    /// one fails (a Redis error in the token correction must not leak the lease or lose the row):
    /// failures are logged and the call is still billed.
    /// </summary>
    internal async ValueTask SettleAsync(Admission admission, CallOutcome outcome)
    {
        var used = outcome.InputTokens + outcome.OutputTokens + outcome.AbandonedInputTokens + outcome.AbandonedOutputTokens + OtherTokens(outcome, input: true) + OtherTokens(outcome, input: false);
        if (admission.HasReservations)
        {
            foreach (var reservation in admission.Reservations)
            {
                if (reservation.Kind != LimitKind.Tokens)
                {
                    continue;
                }

                try
                {
                    await limits.AdjustTokensAsync(reservation.Key, reservation.Limit, reservation.Algorithm, reservation.Reservation, used - admission.TokenEstimate, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    Log.SettleStepFailed(logger, "token reservation " + reservation.Key, admission.Call.RequestId, ex);
                }
            }

            admission.Reservations.Clear();
        }

        await ReleaseLeasesAsync(admission).ConfigureAwait(false);
        var (total, abandoned) = Price(admission.Request, outcome);
        admission.CostUsd = total;
        var principal = admission.Principal;
        await SettleBudgetsAsync(admission, total).ConfigureAwait(false);
        await ledger.EnqueueAsync(new LedgerEntry
        {
            RequestId = admission.Call.RequestId,
            Timestamp = timeProvider.GetUtcNow(),
            KeyId = principal.KeyId,
            TeamId = principal.TeamId,
            Model = admission.Request.Model,
            Deployment = outcome.Deployment,
            Provider = outcome.Provider,
            Route = admission.Call.Route,
            Stream = admission.Call.Stream,
            InputTokens = outcome.InputTokens + OtherTokens(outcome, input: true),
            OutputTokens = outcome.OutputTokens + OtherTokens(outcome, input: false),
            CachedInputTokens = outcome.CachedInputTokens,
            CostUsd = total,
            AbandonedCostUsd = abandoned,
            LatencyMs = (long)timeProvider.GetElapsedTime(admission.Started).TotalMilliseconds,
            TimeToFirstTokenMs = outcome.TimeToFirstTokenMs,
            Status = StatusName(outcome.Status),
            Estimated = outcome.Estimated,
            Attempts = outcome.Attempts,
            Cache = outcome.Cache,
            SavedCostUsd = outcome.SavedCostUsd,
        }, settings.LedgerCommitWait).ConfigureAwait(false);
    }

    private static long OtherTokens(CallOutcome outcome, bool input)
    {
        long tokens = 0;
        if (outcome.OtherUsage is { } others)
        {
            foreach (var other in others)
            {
                tokens += input ? other.InputTokens : other.OutputTokens;
            }
        }

        return tokens;
    }

    /// <summary>
    /// Charges the call's cost to each budget scope on its own: a failure in one (a store that
    /// cannot record the alert the call crossed, Redis answering an error) is logged and the next
    /// scope is still settled, so one scope's fault neither strands another's reservation nor
    /// drops its spend.
    /// </summary>
    private async ValueTask SettleBudgetsAsync(Admission admission, decimal total)
    {
        var principal = admission.Principal;
        if (admission.HasBudgetHolds)
        {
            foreach (var hold in admission.BudgetHolds)
            {
                var budget = hold.Scope.StartsWith("key:", StringComparison.Ordinal) ? principal.Key?.Limits.MonthlyBudgetUsd : principal.Team?.Limits.MonthlyBudgetUsd;
                try
                {
                    await budgets.SettleAsync(hold, total, budget, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    Log.SettleStepFailed(logger, "budget " + hold.Scope, admission.Call.RequestId, ex);
                }
            }

            admission.BudgetHolds.Clear();
        }

        // Scopes without a budget still keep their spend (reports, later budgets).
        if (principal.Key is { Limits.MonthlyBudgetUsd: null } key)
        {
            await AddSpendAsync(admission, BudgetTracker.KeyScope(key.Id), total).ConfigureAwait(false);
        }

        if (principal.Team is { Limits.MonthlyBudgetUsd: null } team)
        {
            await AddSpendAsync(admission, BudgetTracker.TeamScope(team.Id), total).ConfigureAwait(false);
        }
    }

    private async ValueTask AddSpendAsync(Admission admission, string scope, decimal total)
    {
        try
        {
            await budgets.AddAsync(scope, total, null, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.SettleStepFailed(logger, "spend of " + scope, admission.Call.RequestId, ex);
        }
    }

    internal async ValueTask ReleaseLeasesAsync(Admission admission)
    {
        if (!admission.HasLeases)
        {
            return;
        }

        foreach (var lease in admission.Leases)
        {
            try
            {
                await limits.ReleaseAsync(lease, admission.Call.RequestId, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.SettleStepFailed(logger, "concurrency lease " + lease, admission.Call.RequestId, ex);
            }
        }

        admission.Leases.Clear();
    }

    /// <summary>Undoes the reservations of a call refused part-way through admission: requests, tokens, budget, leases.</summary>
    internal async ValueTask RollbackAsync(Admission admission)
    {
        if (admission.HasReservations)
        {
            foreach (var reservation in admission.Reservations)
            {
                var amount = reservation.Kind == LimitKind.Tokens ? admission.TokenEstimate : 1;
                try
                {
                    await limits.AdjustTokensAsync(reservation.Key, reservation.Limit, reservation.Algorithm, reservation.Reservation, -amount, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    Log.SettleStepFailed(logger, "rollback of " + reservation.Key, admission.Call.RequestId, ex);
                }
            }

            admission.Reservations.Clear();
        }

        if (admission.HasBudgetHolds)
        {
            foreach (var hold in admission.BudgetHolds)
            {
                try
                {
                    await budgets.ReleaseAsync(hold).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    Log.SettleStepFailed(logger, "budget release " + hold.Scope, admission.Call.RequestId, ex);
                }
            }

            admission.BudgetHolds.Clear();
        }

        await ReleaseLeasesAsync(admission).ConfigureAwait(false);
    }

    public static string StatusName(StatusCode code) => code switch
    {
        StatusCode.OK => "OK",
        StatusCode.Cancelled => "CANCELLED",
        StatusCode.Unknown => "UNKNOWN",
        StatusCode.InvalidArgument => "INVALID_ARGUMENT",
        StatusCode.DeadlineExceeded => "DEADLINE_EXCEEDED",
        StatusCode.NotFound => "NOT_FOUND",
        StatusCode.AlreadyExists => "ALREADY_EXISTS",
        StatusCode.PermissionDenied => "PERMISSION_DENIED",
        StatusCode.ResourceExhausted => "RESOURCE_EXHAUSTED",
        StatusCode.FailedPrecondition => "FAILED_PRECONDITION",
        StatusCode.Aborted => "ABORTED",
        StatusCode.OutOfRange => "OUT_OF_RANGE",
        StatusCode.Unimplemented => "UNIMPLEMENTED",
        StatusCode.Internal => "INTERNAL",
        StatusCode.Unavailable => "UNAVAILABLE",
        StatusCode.DataLoss => "DATA_LOSS",
        StatusCode.Unauthenticated => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    };

    private static partial class Log
    {
        [LoggerMessage(310, LogLevel.Information, "Refused ({Kind}) for {Scope}.", EventName = "Refused")]
        public static partial void Refused(ILogger logger, string kind, string scope);

        [LoggerMessage(311, LogLevel.Error, "Settling call {RequestId}: the {Step} step failed; the other steps ran.", EventName = "SettleStepFailed")]
        public static partial void SettleStepFailed(ILogger logger, string step, string requestId, Exception exception);
    }
}

/// <summary>A counter a call took from (its requests or tokens), for settlement and rollback.</summary>
internal readonly record struct TokenReservation(string Key, LimitKind Kind, long Limit, LimitAlgorithm Algorithm, long Reservation);

/// <summary>An admitted call. Complete it exactly once when the call ends, whatever the outcome.</summary>
public sealed class Admission
{
    private readonly GovernanceService _service;
    private int _completed;

    internal Admission(GovernanceService service, Principal principal, CompletionRequest request, CallInfo call, long started)
    {
        _service = service;
        Principal = principal;
        Request = request;
        Call = call;
        Started = started;
    }

    public Principal Principal { get; }

    public CompletionRequest Request { get; }

    public CallInfo Call { get; }

    internal long Started { get; }

    // What limits and budgets hold for the call, made on first use: a call without keys, limits
    // or budgets (the open default) holds none, and its admission carries one null field for them.
    private Holds? _holds;

    private Holds Held => _holds ??= new Holds();

    internal long TokenEstimate
    {
        get => _holds?.TokenEstimate ?? 0;
        set => Held.TokenEstimate = value;
    }

    internal decimal? CostEstimate
    {
        get => _holds?.CostEstimate;
        set => Held.CostEstimate = value;
    }

    internal List<BudgetHold> BudgetHolds => Held.BudgetHolds ??= [];

    internal bool HasBudgetHolds => _holds?.BudgetHolds is { Count: > 0 };

    internal List<TokenReservation> Reservations => Held.Reservations ??= [];

    internal bool HasReservations => _holds?.Reservations is { Count: > 0 };

    internal List<string> Leases => Held.Leases ??= [];

    internal bool HasLeases => _holds?.Leases is { Count: > 0 };

    /// <summary>x-ratelimit-* values of the tightest limits, for response headers.</summary>
    public Metadata Headers => Held.Headers ??= [];

    /// <summary>True when there are <see cref="Headers"/> to send (reading it then costs nothing).</summary>
    public bool HasHeaders => _holds?.Headers is { Count: > 0 };

    /// <summary>Cost of the call, known after <see cref="CompleteAsync"/>.</summary>
    public decimal CostUsd { get; internal set; }

    internal void AddHeaders(string unit, long limit, LimitResult result)
    {
        // Keep the tightest (lowest remaining) limit of each unit, OpenAI-style header names.
        var remainingKey = "x-ratelimit-remaining-" + unit;
        var current = Headers.GetValue(remainingKey);
        if (current is not null && long.Parse(current, CultureInfo.InvariantCulture) <= result.Remaining)
        {
            return;
        }

        for (var i = Headers.Count - 1; i >= 0; i--)
        {
            if (Headers[i].Key.EndsWith("-" + unit, StringComparison.Ordinal))
            {
                Headers.RemoveAt(i);
            }
        }

        Headers.Add("x-ratelimit-limit-" + unit, limit.ToString(CultureInfo.InvariantCulture));
        Headers.Add(remainingKey, result.Remaining.ToString(CultureInfo.InvariantCulture));
        Headers.Add("x-ratelimit-reset-" + unit, ((long)Math.Ceiling(result.Reset.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture) + "ms");
    }

    public ValueTask CompleteAsync(CallOutcome outcome)
        => Interlocked.Exchange(ref _completed, 1) == 0 ? _service.SettleAsync(this, outcome) : ValueTask.CompletedTask;

    internal ValueTask RollbackAsync()
        => Interlocked.Exchange(ref _completed, 1) == 0 ? _service.RollbackAsync(this) : ValueTask.CompletedTask;

    private sealed class Holds
    {
        public long TokenEstimate;
        public decimal? CostEstimate;
        public List<BudgetHold>? BudgetHolds;
        public List<TokenReservation>? Reservations;
        public List<string>? Leases;
        public Metadata? Headers;
    }
}
