using System.Net;
using Gateway.Grpc.Server.Hosting;
using Gateway.Grpc.Server.Tests.Infrastructure;
using Gateway.Grpc.TestSupport;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Tests;

/// <summary>
/// A caller's unreadable request is its fault, not the server's: grpc-dotnet's "Error when
/// executing service method" (Error, with a stack trace) for it is logged at Debug as one line,
/// while the caller still gets INVALID_ARGUMENT and the call is still counted as rejected.
/// </summary>
public sealed class ClientFaultLoggingTests
{
    private sealed class CapturingLogger : ILogger
    {
        public List<(LogLevel Level, int EventId, string Message, Exception? Exception)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Entries.Add((logLevel, eventId.Id, formatter(state, exception), exception));
    }

    /// <summary>What Google.Protobuf throws for a truncated message (its constructors are internal).</summary>
    private static InvalidProtocolBufferException Unparseable()
    {
        try
        {
            Gateway.V1.CompletionRequest.Parser.ParseFrom([0xff, 0xff, 0xff, 0xff, 0xff]);
        }
        catch (InvalidProtocolBufferException ex)
        {
            return ex;
        }

        throw new InvalidOperationException("a truncated message parsed");
    }

    private static void LogAsGrpcDotnet(ILogger logger, LogLevel level, int eventId, Exception exception)
        => logger.Log(level, new EventId(eventId, "ErrorExecutingServiceMethod"), "Error when executing service method 'Complete'.", exception, static (s, _) => s);

    [Fact]
    public void UnparseableMessage_AtTheDefaultLevel_IsNotLogged()
    {
        var inner = new CapturingLogger();
        var logger = new ClientFaultLogger(inner, LogLevel.Information);

        LogAsGrpcDotnet(logger, LogLevel.Error, 6, Unparseable());
        LogAsGrpcDotnet(logger, LogLevel.Information, 14, Unparseable());
        LogAsGrpcDotnet(logger, LogLevel.Error, 6, new IOException("The client reset the request stream."));

        Assert.Empty(inner.Entries);
    }

    [Fact]
    public void UnparseableMessage_AtDebug_IsOneLineWithoutTheStackTrace()
    {
        var inner = new CapturingLogger();
        var logger = new ClientFaultLogger(inner, LogLevel.Debug);
        var thrown = Unparseable();
        Assert.NotNull(thrown.StackTrace);

        LogAsGrpcDotnet(logger, LogLevel.Error, 6, thrown);

        var entry = Assert.Single(inner.Entries);
        Assert.Equal((LogLevel.Debug, 6), (entry.Level, entry.EventId));
        Assert.Null(entry.Exception);
        Assert.Contains("Error when executing service method 'Complete'.", entry.Message, StringComparison.Ordinal);
        Assert.Contains("InvalidProtocolBufferException: " + thrown.Message, entry.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", entry.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OtherFailures_AndOtherEvents_PassThroughUnchanged()
    {
        var inner = new CapturingLogger();
        var logger = new ClientFaultLogger(inner, LogLevel.Information);
        var bug = new InvalidOperationException("a bug");
        var reset = new IOException("reset");

        LogAsGrpcDotnet(logger, LogLevel.Error, 6, bug);
        LogAsGrpcDotnet(logger, LogLevel.Warning, 1, reset);

        Assert.Equal(2, inner.Entries.Count);
        Assert.Equal((LogLevel.Error, 6), (inner.Entries[0].Level, inner.Entries[0].EventId));
        Assert.Same(bug, inner.Entries[0].Exception);
        Assert.Equal((LogLevel.Warning, 1), (inner.Entries[1].Level, inner.Entries[1].EventId));
        Assert.Same(reset, inner.Entries[1].Exception);
    }

    [Fact]
    public async Task RealGateway_UnparseableMessage_IsAnsweredAndCounted_WithNoErrorInTheLog()
    {
        await using var gateway = await GatewayProcess.StartAsync(new Dictionary<string, string?> { ["store:kind"] = "memory", ["logLevel"] = "Information" });

        // One gRPC frame whose 5-byte message is a truncated protobuf field.
        using var grpc = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gateway.GrpcPort}/gateway.v1.Completion/Complete")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent([0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff]),
        };
        request.Content.Headers.TryAddWithoutValidation("content-type", "application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        using var response = await grpc.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        var status = response.TrailingHeaders.TryGetValues("grpc-status", out var trailing) ? trailing.Single()
            : response.Headers.GetValues("grpc-status").Single();
        Assert.Equal("3", status);

        var metrics = await gateway.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains("method=\"/gateway.v1.Completion/Complete\",status=\"INVALID_ARGUMENT\"} 1", metrics, StringComparison.Ordinal);

        // The log is written asynchronously: give it a moment, then read it.
        await Task.Delay(500);
        var text = gateway.Output;
        Assert.DoesNotContain(" fail: ", text, StringComparison.Ordinal);
        Assert.DoesNotContain("InvalidProtocolBufferException", text, StringComparison.Ordinal);
    }
}
