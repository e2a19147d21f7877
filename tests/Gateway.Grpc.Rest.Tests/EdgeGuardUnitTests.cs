using System.Diagnostics.Metrics;
using Gateway.Grpc.Observability.Metrics;
using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Hosting;
using Gateway.Grpc.Server.Pipeline;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Grpc.Rest.Tests;

/// <summary>
/// The edge after a gRPC call whose response has started: seen with `buf curl`, whose reflection
/// stream ends by closing the connection. grpc-dotnet then ends the call UNKNOWN ("Exception was
/// thrown by handler", the read that broke off); the edge must neither take that for an
/// unreadable request message nor try to write a header once the headers are out.
/// </summary>
public sealed class EdgeGuardUnitTests
{
    [Fact]
    public void ResolveRequestId_AfterTheResponseStarted_ReturnsAnIdWithoutWritingHeaders()
    {
        var http = StartedGrpcCall(out _);

        var id = CallerHeaders.ResolveRequestId(http);

        Assert.StartsWith("cmpl-", id, StringComparison.Ordinal);
        Assert.Empty(http.Response.Headers);
    }

    [Fact]
    public async Task StreamingCallWhoseClientLeft_EndsQuietlyWithItsStatusAsItWas()
    {
        var http = StartedGrpcCall(out var trailers);
        using var gone = new CancellationTokenSource();
        await gone.CancelAsync();
        http.RequestAborted = gone.Token;
        var middleware = EndingUnknown(trailers, "Exception was thrown by handler. IOException: The request stream was aborted.");

        await middleware.InvokeAsync(http);

        Assert.Equal("2", trailers["grpc-status"].ToString());
        Assert.StartsWith("Exception was thrown by handler", trailers["grpc-message"].ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnaryCallWithAnUnreadableMessage_StillBecomesInvalidArgument()
    {
        // The same edge with the client still there: the rewrite the abort check must not lose.
        var http = StartedGrpcCall(out var trailers);
        var middleware = EndingUnknown(trailers, "Exception was thrown by handler. InvalidProtocolBufferException: ...");

        await middleware.InvokeAsync(http);

        Assert.Equal(((int)StatusCode.InvalidArgument).ToString(System.Globalization.CultureInfo.InvariantCulture), trailers["grpc-status"].ToString());
        Assert.Contains("could%20not%20be%20parsed", trailers["grpc-message"].ToString(), StringComparison.Ordinal);
    }

    /// <summary>The edge in front of a call that ends UNKNOWN with <paramref name="message"/>, as grpc-dotnet ends it.</summary>
    private static EdgeGuardMiddleware EndingUnknown(IHeaderDictionary trailers, string message)
        => new(
            _ =>
            {
                trailers["grpc-status"] = "2";
                trailers["grpc-message"] = message;
                return Task.CompletedTask;
            },
            new GatewayOptions(),
            new GatewayMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>()),
            new ServiceCollection().BuildServiceProvider(),
            NullLogger<EdgeGuardMiddleware>.Instance);

    private static DefaultHttpContext StartedGrpcCall(out IHeaderDictionary trailers)
    {
        var http = new DefaultHttpContext();
        http.Request.Method = "POST";
        http.Request.Protocol = "HTTP/2";
        http.Request.ContentType = "application/grpc";
        http.Request.Path = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
        http.Features.Set<IHttpResponseFeature>(new StartedResponse());
        var trailerFeature = new TrailersFeature();
        http.Features.Set<IHttpResponseTrailersFeature>(trailerFeature);
        trailers = trailerFeature.Trailers;
        var bytes = Marshallers.Create(static b => b, static b => b);
        var method = new Method<byte[], byte[]>(MethodType.DuplexStreaming, "grpc.reflection.v1.ServerReflection", "ServerReflectionInfo", bytes, bytes);
        http.SetEndpoint(new Endpoint(null, new EndpointMetadataCollection(new GrpcMethodMetadata(typeof(object), method)), "reflection"));
        return http;
    }

    private sealed class StartedResponse : HttpResponseFeature
    {
        public StartedResponse() => Headers = new HeaderDictionary { IsReadOnly = true };

        public override bool HasStarted => true;
    }

    private sealed class TrailersFeature : IHttpResponseTrailersFeature
    {
        public IHeaderDictionary Trailers { get; set; } = new HeaderDictionary();
    }
}
