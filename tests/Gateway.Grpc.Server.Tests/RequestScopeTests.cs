using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using Gateway.Grpc.Server.Tests.Infrastructure;
using Gateway.V1;

namespace Gateway.Grpc.Server.Tests;

/// <summary>
/// A completion call is served from the root service provider (its service and pipeline are
/// singletons): no DI scope is opened per call. Other endpoints keep their request scope.
/// Request scopes are seen through the DI event source's ScopeDisposed event, keyed by the root
/// provider and written while ASP.NET Core's RequestServicesFeature disposes the scope.
/// </summary>
public sealed class RequestScopeTests
{
    [Fact]
    public async Task CompletionCalls_OpenNoRequestScope_OtherEndpointsStillDo()
    {
        await using var gateway = await GatewayHarness.StartAsync(new Dictionary<string, string?>());
        using var scopes = new ScopeListener();
        var root = gateway.App.Services.GetHashCode();
        var models = new Models.ModelsClient(gateway.Channel);
        // Warm up the channel, both methods and the DI event source.
        await gateway.CompleteAsync(GatewayHarness.Request("sim-small"));
        await models.ListModelsAsync(new ListModelsRequest()).ResponseAsync;
        await Task.Delay(200);

        // Ten completions (unary and streamed): no request scope.
        var before = scopes.DisposedFor(root);
        for (var i = 0; i < 5; i++)
        {
            var response = await gateway.CompleteAsync(GatewayHarness.Request("sim-small"));
            Assert.False(string.IsNullOrEmpty(response.Message.Content));
            var stream = await gateway.StreamAsync(GatewayHarness.Request("sim-small"));
            Assert.Equal(global::Grpc.Core.StatusCode.OK, stream.Status.StatusCode);
        }

        await Task.Delay(200);
        Assert.Equal(before, scopes.DisposedFor(root));

        // The control: ten Models calls open (and dispose) a scope each.
        before = scopes.DisposedFor(root);
        for (var i = 0; i < 10; i++)
        {
            await models.ListModelsAsync(new ListModelsRequest()).ResponseAsync;
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (scopes.DisposedFor(root) - before < 10 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.True(scopes.DisposedFor(root) - before >= 10, $"ListModels calls disposed {scopes.DisposedFor(root) - before} scopes, expected 10");
    }

    private sealed class ScopeListener : EventListener
    {
        private readonly ConcurrentDictionary<int, int> _disposed = new();

        public int DisposedFor(int providerHashCode) => _disposed.GetValueOrDefault(providerHashCode);

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Extensions-DependencyInjection")
            {
                EnableEvents(eventSource, EventLevel.Verbose);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            // Request scopes only: the event is written on the disposing thread, so the stack says
            // who disposed the scope (health-check runs open scopes of their own, every few seconds).
            if (eventData.EventName == "ScopeDisposed" && eventData.Payload is [int provider, ..]
                && new System.Diagnostics.StackTrace().GetFrames().Any(static f => f.GetMethod()?.DeclaringType == typeof(Microsoft.AspNetCore.Http.Features.RequestServicesFeature)))
            {
                _disposed.AddOrUpdate(provider, 1, static (_, n) => n + 1);
            }
        }
    }
}
