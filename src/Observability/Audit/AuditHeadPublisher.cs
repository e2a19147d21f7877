using Gateway.Grpc.Observability.Configuration;
using Gateway.Grpc.Observability.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Observability.Audit;

/// <summary>
/// Publishes the audit trail's head outside the trail: the newest sequence as the
/// <c>gateway_audit_head_sequence</c> gauge, and sequence plus hash in the log when it changed
/// (every <c>audit.headLogIntervalSeconds</c>, and once more at shutdown). A chain proves order and
/// integrity up to its head; a head recorded elsewhere also exposes a trail cut short (entries
/// removed from the end re-chain perfectly, but no longer reach the published head).
/// </summary>
internal sealed partial class AuditHeadPublisher(IAuditTrail trail, GatewayMetrics metrics, AuditOptions options, TimeProvider timeProvider, ILogger<AuditHeadPublisher> logger) : BackgroundService
{
    private long _published = -1;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (trail is not AuditTrail chained)
        {
            return;
        }

        metrics.SetAuditHeadSource(() => chained.Head.Sequence);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(Math.Max(1, options.HeadLogIntervalSeconds)), timeProvider);
        try
        {
            do
            {
                Publish(chained);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (trail is AuditTrail chained)
        {
            Publish(chained);
        }
    }

    private void Publish(AuditTrail chained)
    {
        var (sequence, hash) = chained.Head;
        if (sequence == Interlocked.Exchange(ref _published, sequence))
        {
            return;
        }

        Log.Head(logger, sequence, hash);
    }

    private static partial class Log
    {
        [LoggerMessage(500, LogLevel.Information, "Audit trail head: seq {Sequence}, hash {Hash}.", EventName = "AuditHead")]
        public static partial void Head(ILogger logger, long sequence, string hash);
    }
}
