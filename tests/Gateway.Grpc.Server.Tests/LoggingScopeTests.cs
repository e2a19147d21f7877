using Gateway.Grpc.Server.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Gateway.Grpc.Server.Tests;

/// <summary>
/// The gateway's console logger takes no log scopes, so a scope (Kestrel opens one per
/// connection) leaves the request's execution context empty: nothing for a library's
/// suppress/restore-flow around a timer to clone on every call.
/// </summary>
public sealed class LoggingScopeTests
{
    private static readonly Dictionary<string, string?> Overrides = new()
    {
        ["grpcAddress"] = "127.0.0.1:0",
        ["httpAddress"] = "127.0.0.1:0",
    };

    /// <summary>Whether <c>BeginScope</c> changed the execution context, on a thread that starts with the default one.</summary>
    private static bool ScopeChangesExecutionContext(ILoggerFactory factory)
    {
        var logger = factory.CreateLogger("Gateway.Grpc.Test");
        var changed = false;
        var thread = new Thread(() =>
        {
            var before = ExecutionContext.Capture();
            using (logger.BeginScope("ConnectionId:{ConnectionId}", "0HN0TEST"))
            {
                changed = !ReferenceEquals(before, ExecutionContext.Capture());
            }
        });
        using (ExecutionContext.SuppressFlow())
        {
            thread.Start();
        }

        thread.Join();
        return changed;
    }

    [Fact]
    public async Task GatewayLogging_BeginScope_LeavesTheExecutionContextUntouched()
    {
        var app = GatewayApp.Build([], Overrides);
        await using var _a = app;

        Assert.False(ScopeChangesExecutionContext(app.Services.GetRequiredService<ILoggerFactory>()));
    }

    [Fact]
    public void PlainSimpleConsole_BeginScope_ChangesTheExecutionContext()
    {
        // The control: what the wrapper avoids, so the test above can fail.
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.AddSimpleConsole());
        using var provider = services.BuildServiceProvider();

        Assert.True(ScopeChangesExecutionContext(provider.GetRequiredService<ILoggerFactory>()));
    }

    [Fact]
    public async Task GatewayLogging_StillLogsToTheConsoleProvider_UnderItsAliasAndFilters()
    {
        var app = GatewayApp.Build([], Overrides);
        await using var _a = app;

        var providers = app.Services.GetServices<ILoggerProvider>().ToList();
        var wrapper = Assert.Single(providers);
        Assert.IsType<ScopelessConsoleLoggerProvider>(wrapper);
        Assert.False(wrapper is ISupportExternalScope);
        Assert.IsType<ConsoleLoggerProvider>(app.Services.GetRequiredService<ConsoleLoggerProvider>());
        // "Console" alias: the provider's logger is a console logger, and the gateway's filters apply.
        Assert.Equal("ConsoleLogger", wrapper.CreateLogger("Gateway.Grpc.Test").GetType().Name);
        var factory = app.Services.GetRequiredService<ILoggerFactory>();
        Assert.True(factory.CreateLogger("Gateway.Grpc.Test").IsEnabled(LogLevel.Information));
        Assert.False(factory.CreateLogger("Microsoft.AspNetCore.Routing").IsEnabled(LogLevel.Information));
        Assert.True(factory.CreateLogger("Microsoft.AspNetCore.Routing").IsEnabled(LogLevel.Warning));
    }
}
