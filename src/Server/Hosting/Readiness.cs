using System.Text.Json;
using Gateway.Grpc.Governance.Ledger;
using Gateway.Grpc.Governance.Limits;
using Gateway.Grpc.Governance.Storage;
using Gateway.Grpc.Server.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Gateway.Grpc.Server.Hosting;

/// <summary>
/// Applies the governance store's migrations when the host starts, before the server accepts a
/// call (hosted services start before Kestrel listens), instead of blocking the app's build. A
/// store that cannot be opened or migrated fails start-up with a message naming the key to fix.
/// </summary>
internal sealed class GovernanceStoreMigrator(IGovernanceStore store, StoreOptions options) : IHostedService
{
    private volatile bool _completed;

    /// <summary>True once the schema is current.</summary>
    public bool Completed => _completed;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await store.MigrateAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException ex)
        {
            var fix = options.Kind == "postgres"
                ? "Check that the server in store:connectionString is reachable and the user may create tables"
                : "Set store:path (GATEWAY_STORE__PATH) to a writable file";
            var reason = ex.Message.TrimEnd();
            throw new GatewayConfigurationException($"{reason}{(reason.EndsWith('.') ? "" : ".")} {fix}, or use store:kind: memory for a throwaway store.");
        }

        _completed = true;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Ready when the store is migrated and answers a query within two seconds.</summary>
internal sealed class StoreReadinessCheck(IGovernanceStore store, GovernanceStoreMigrator migrator) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!migrator.Completed)
        {
            return HealthCheckResult.Unhealthy("the store's migrations have not run yet");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await store.PingAsync(timeout.Token).ConfigureAwait(false);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The exception's type only: a connection error's message can carry the connection string.
            return HealthCheckResult.Unhealthy($"the store did not answer ({ex.GetType().Name})");
        }
    }
}

/// <summary>
/// Redis, when limits live there: disconnected is unready under failClosed (every limited call
/// would be refused) and degraded under failOpen (calls go on with per-replica counters).
/// </summary>
internal sealed class RedisReadinessCheck(RedisLimitConnection connection, bool failOpen) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => Task.FromResult(connection.IsConnected
            ? HealthCheckResult.Healthy()
            : failOpen
                ? HealthCheckResult.Degraded("Redis is not connected; rate limits fall back to this replica's counters (failOpen)")
                : HealthCheckResult.Unhealthy("Redis is not connected; rate-limited calls are refused (failClosed)"));
}

/// <summary>
/// The ledger writer: degraded while writes fail (rows are kept and retried, none lost), unready
/// when the unwritten backlog passes <see cref="MaxBacklog"/> rows (memory at risk).
/// </summary>
internal sealed class LedgerReadinessCheck(LedgerWriter writer) : IHealthCheck
{
    public const long MaxBacklog = 100_000;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var backlog = writer.Backlog;
        if (backlog > MaxBacklog)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"{backlog} ledger rows are waiting to be written"));
        }

        return Task.FromResult(writer.Failing
            ? HealthCheckResult.Degraded($"ledger writes are failing and being retried ({backlog} rows queued)")
            : HealthCheckResult.Healthy());
    }
}

/// <summary>
/// Shutdown in order: on SIGTERM readiness turns false at once, the listeners stay open for
/// <c>shutdown.drainDelaySeconds</c> (a load balancer stops sending), then Kestrel stops accepting
/// and waits up to <c>shutdown.gracePeriodSeconds</c> for in-flight calls, streams included; the
/// ledger writer drains after the server has stopped.
/// </summary>
internal sealed class ShutdownDrain : IHealthCheck
{
    private volatile bool _draining;

    public ShutdownDrain(IHostApplicationLifetime lifetime, ShutdownOptions options)
    {
        var delay = TimeSpan.FromSeconds(options.DrainDelaySeconds);
        lifetime.ApplicationStopping.Register(() =>
        {
            _draining = true;
            if (delay > TimeSpan.Zero)
            {
                // ApplicationStopping callbacks run before the server stops: holding this one keeps
                // the listeners accepting while readiness already says no.
                Thread.Sleep(delay);
            }
        });
    }

    public bool Draining => _draining;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => Task.FromResult(_draining ? HealthCheckResult.Unhealthy("shutting down: draining in-flight calls") : HealthCheckResult.Healthy());
}

internal static class Readiness
{
    public const string Tag = "ready";

    /// <summary>/readyz body: the overall status and each check's, with the reason when not healthy.</summary>
    public static async Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("status", Name(report.Status));
            json.WriteStartObject("checks");
            foreach (var (name, entry) in report.Entries)
            {
                json.WriteStartObject(name);
                json.WriteString("status", Name(entry.Status));
                if (entry.Description is { } description)
                {
                    json.WriteString("description", description);
                }

                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        await context.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), context.RequestAborted).ConfigureAwait(false);
    }

    private static string Name(HealthStatus status) => status switch
    {
        HealthStatus.Healthy => "healthy",
        HealthStatus.Degraded => "degraded",
        _ => "unhealthy",
    };
}
