using System.Net.Http.Json;
using Gateway.Grpc.Governance.Budgets;
using Gateway.Grpc.Observability.Metrics;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Governance;

/// <summary>
/// Budget alerts (50, 80, 100 %, once each per scope and month) go to the log (by the tracker),
/// to the <c>gateway_budget_alerts_total</c> metric, and, when <c>budgets:alertWebhook</c> is set,
/// to a webhook as a JSON POST (fire-and-forget, 5 s timeout, failures logged).
/// </summary>
internal sealed partial class BudgetAlertNotifier : IDisposable
{
    private readonly Lock _lock = new();
    private readonly BudgetTracker _tracker;
    private readonly GatewayMetrics _metrics;
    private readonly Uri? _webhook;
    private readonly HttpClient? _http;
    private readonly ILogger<BudgetAlertNotifier> _logger;

    public BudgetAlertNotifier(BudgetTracker tracker, GatewayMetrics metrics, Configuration.GatewayOptions options, ILogger<BudgetAlertNotifier> logger)
    {
        _tracker = tracker;
        _metrics = metrics;
        _logger = logger;
        if (!string.IsNullOrEmpty(options.Budgets.AlertWebhook))
        {
            _webhook = new Uri(options.Budgets.AlertWebhook);
            _http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        }

        tracker.AlertRaised += OnAlert;
    }

    /// <summary>Webhook deliveries still running (tests wait on these).</summary>
    internal Task Pending { get; private set; } = Task.CompletedTask;

    private void OnAlert(BudgetAlert alert)
    {
        _metrics.RecordBudgetAlert(alert.Scope.StartsWith("team:", StringComparison.Ordinal) ? "team" : "key", alert.ThresholdPercent);
        if (_http is null)
        {
            return;
        }

        var delivery = DeliverAsync(alert);
        lock (_lock)
        {
            Pending = Task.WhenAll(Pending, delivery);
        }
    }

    private async Task DeliverAsync(BudgetAlert alert)
    {
        try
        {
            using var response = await _http!.PostAsJsonAsync(_webhook, new
            {
                type = "budget_alert",
                scope = alert.Scope,
                period = alert.Period,
                threshold_percent = alert.ThresholdPercent,
                spent_usd = alert.SpentUsd,
                budget_usd = alert.BudgetUsd,
            }).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                Log.WebhookFailed(_logger, (int)response.StatusCode, null);
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            Log.WebhookFailed(_logger, 0, ex);
        }
    }

    public void Dispose()
    {
        _tracker.AlertRaised -= OnAlert;
        _http?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(340, LogLevel.Warning, "Budget alert webhook failed (HTTP {Status}).", EventName = "BudgetWebhookFailed")]
        public static partial void WebhookFailed(ILogger logger, int status, Exception? exception);
    }
}
