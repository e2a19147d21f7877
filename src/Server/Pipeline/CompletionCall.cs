using Gateway.Grpc.Governance;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Guardrails;
using Gateway.V1;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Server.Pipeline;

/// <summary>
/// What the completion pipeline knows about one call, whichever door it came through: the
/// caller's credentials and request id, its deadline and cancellation, and the HTTP exchange
/// (for response headers). The gRPC service builds one from its <c>ServerCallContext</c>, the
/// OpenAI REST endpoints from the HTTP request; neither imitates the other.
/// </summary>
internal sealed class CompletionCall
{
    public const string GrpcRoute = "grpc";
    public const string RestRoute = "rest";

    /// <summary>The HTTP exchange (HTTP/2 for gRPC, HTTP/1.1 for REST): response headers go here.</summary>
    public required HttpContext Http { get; init; }

    /// <summary><see cref="GrpcRoute"/> or <see cref="RestRoute"/>: a metric label and ledger field.</summary>
    public required string Route { get; init; }

    /// <summary>The API key from <c>authorization: Bearer</c> or <c>x-api-key</c>, if any.</summary>
    public string? ApiKey { get; init; }

    /// <summary>The request id: the caller's usable <c>x-request-id</c> or one made for the call.</summary>
    public required string RequestId { get; init; }

    /// <summary>UTC deadline of the whole call, or <see cref="DateTime.MaxValue"/>.</summary>
    public DateTime Deadline { get; init; } = DateTime.MaxValue;

    /// <summary>Cancelled when the caller goes away or the deadline passes.</summary>
    public CancellationToken CancellationToken { get; init; }

    /// <summary>
    /// A gRPC call's edge (the interceptor's error handling, applied by the pipeline because the
    /// Completion service is not behind the interceptor); null for REST, whose door renders
    /// failures itself.
    /// </summary>
    public GatewayServerInterceptor? GrpcEdge { get; init; }

    /// <summary>The model group that serves the call: set by admission, read by everything after it.</summary>
    public ModelGroup Group { get; private set; } = null!;

    /// <summary>What the context-window and capability checks found (set by admission).</summary>
    public ContextFit Fit { get; private set; }

    /// <summary>The call's admission (limits, budgets), settled when it ends (set by admission).</summary>
    public Admission Admission { get; private set; } = null!;

    /// <summary>The call's guardrails, when any apply (set by admission).</summary>
    public GuardrailCall? Guard { get; private set; }

    /// <summary>What the task router decided, for the routing info (set by admission).</summary>
    public CompletionPipeline.RouteNotes? Notes { get; private set; }

    /// <summary>Records what admission decided, once, before dispatch.</summary>
    internal void Admitted(ModelGroup group, ContextFit fit, Admission admission, GuardrailCall? guard, CompletionPipeline.RouteNotes? notes)
        => (Group, Fit, Admission, Guard, Notes) = (group, fit, admission, guard, notes);

    /// <summary>True when the deadline has passed (a cancellation then reads as DEADLINE_EXCEEDED).</summary>
    public bool DeadlinePassed(TimeProvider timeProvider) => Deadline != DateTime.MaxValue && timeProvider.GetUtcNow().UtcDateTime >= Deadline;
}

/// <summary>Where a streamed completion's events go: a gRPC response stream or OpenAI Server-Sent Events.</summary>
internal interface ICompletionEventWriter
{
    Task WriteAsync(CompletionChunk chunk, CancellationToken cancellationToken);
}
