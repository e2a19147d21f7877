namespace Gateway.Grpc.Protocol.Client;

/// <summary>Per-call options: metadata, deadline, cancellation and request compression.</summary>
public readonly record struct CallOptions(
    Metadata? Headers = null,
    DateTime? Deadline = null,
    CancellationToken CancellationToken = default,
    string? WriteCompression = null)
{
    public CallOptions WithDeadline(DateTime deadline) => this with { Deadline = deadline };

    public CallOptions WithTimeout(TimeSpan timeout) => this with { Deadline = DateTime.UtcNow + timeout };
}
