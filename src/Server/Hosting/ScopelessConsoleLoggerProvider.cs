using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Gateway.Grpc.Server.Hosting;

/// <summary>
/// The console logger without log scopes. The gateway's console format prints no scopes
/// (<c>IncludeScopes</c> is off), yet a provider that takes the factory's external scope
/// provider makes every <c>BeginScope</c> push an AsyncLocal: Kestrel opens one per connection
/// (its connection id), so every request's execution context carries a value, and every library
/// that suppresses and restores flow around a timer (Grpc.Net.Client does, for each call with a
/// deadline) clones that context twice. Hidden from the factory behind this wrapper, the console
/// logger gets no scope provider and <c>BeginScope</c> pushes nothing. Logging is otherwise the
/// console provider's own: same alias ("Console"), same options, same formatter, except that
/// grpc-dotnet's call-handler category goes through <see cref="ClientFaultLogger"/> (a caller's
/// unreadable request at Debug, without a stack trace).
/// </summary>
[ProviderAlias("Console")]
internal sealed class ScopelessConsoleLoggerProvider(ConsoleLoggerProvider console, LogLevel minimumLevel) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName)
    {
        var logger = console.CreateLogger(categoryName);
        return categoryName == ClientFaultLogger.Category ? new ClientFaultLogger(logger, minimumLevel) : logger;
    }

    // The container owns (and disposes) the console provider.
    public void Dispose()
    {
    }

    /// <summary>
    /// Puts the wrapper where <c>AddSimpleConsole</c> registered the console provider;
    /// <paramref name="minimumLevel"/> is the gateway's minimum log level (<c>logLevel</c>).
    /// </summary>
    public static void Register(IServiceCollection services, LogLevel minimumLevel)
    {
        services.RemoveAll<ConsoleLoggerProvider>();
        for (var i = services.Count - 1; i >= 0; i--)
        {
            if (services[i].ServiceType == typeof(ILoggerProvider) && services[i].ImplementationType == typeof(ConsoleLoggerProvider))
            {
                services.RemoveAt(i);
            }
        }

        services.AddSingleton<ConsoleLoggerProvider>();
        services.AddSingleton<ILoggerProvider>(sp => new ScopelessConsoleLoggerProvider(sp.GetRequiredService<ConsoleLoggerProvider>(), minimumLevel));
    }
}
