using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Hosting;

/// <summary>
/// grpc-dotnet's call-handler log, with the caller's faults demoted. When a request message does
/// not parse, or the caller's connection goes away while its message is read or its answer
/// written, grpc-dotnet logs "Error reading message" (Information) and "Error when executing
/// service method" (Error), each with a full stack trace: about 4 KB of log per bad request,
/// which a broken or hostile client can repeat at will. The caller already has its answer
/// (INVALID_ARGUMENT for a message that does not parse, from the edge), and
/// <c>gateway.requests.rejected</c> counts such calls by method and status, so these two events
/// are logged at Debug as one line without the stack trace. Every other event, and these two for
/// any other exception, pass through unchanged: the gateway's own handlers turn their failures
/// into statuses (and log them) before grpc-dotnet sees them, so what reaches these events
/// otherwise is the library's own.
/// </summary>
internal sealed class ClientFaultLogger(ILogger inner, LogLevel minimumLevel) : ILogger
{
    /// <summary>grpc-dotnet's category for its server call handlers.</summary>
    public const string Category = "Grpc.AspNetCore.Server.ServerCallHandler";

    // grpc-dotnet's event ids in that category (ServerCallHandler's log messages).
    private const int ErrorExecutingServiceMethod = 6;
    private const int ErrorReadingMessage = 14;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (exception is null || eventId.Id is not (ErrorExecutingServiceMethod or ErrorReadingMessage) || !IsCallerFault(exception))
        {
            inner.Log(logLevel, eventId, state, exception, formatter);
            return;
        }

        // The factory let this event through at its own level; Debug has to pass the gateway's minimum too.
        if (minimumLevel <= LogLevel.Debug && inner.IsEnabled(LogLevel.Debug))
        {
            var line = $"{formatter(state, null)} A caller's fault, not a server error ({exception.GetType().Name}: {exception.Message}).";
            inner.Log(LogLevel.Debug, eventId, line, null, static (text, _) => text);
        }
    }

    /// <summary>
    /// A message that does not parse, or a connection that went away mid-call (Kestrel reports
    /// a reset or aborted stream as an <see cref="IOException"/> or a cancellation).
    /// </summary>
    internal static bool IsCallerFault(Exception exception)
        => exception is InvalidProtocolBufferException or IOException or OperationCanceledException
           || exception.InnerException is InvalidProtocolBufferException;
}
