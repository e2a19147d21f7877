using System.Net;
using Gateway.Grpc.Protocol.Compression;

namespace Gateway.Grpc.Protocol.Client;

public sealed class GrpcChannelOptions
{
    /// <summary>Handler to send requests with. Default: one shared SocketsHttpHandler set up for h2c.</summary>
    public HttpMessageHandler? HttpHandler { get; set; }

    /// <summary>Whether disposing the channel disposes <see cref="HttpHandler"/>.</summary>
    public bool DisposeHttpHandler { get; set; } = true;

    /// <summary>Largest message accepted from the server (default 4 MiB; null = unlimited).</summary>
    public int? MaxReceiveMessageSize { get; set; } = Internal.GrpcProtocolConstants.DefaultMaxReceiveMessageSize;

    /// <summary>Largest message sent (default unlimited).</summary>
    public int? MaxSendMessageSize { get; set; }

    public IReadOnlyList<ICompressionProvider> CompressionProviders { get; set; } = Compression.CompressionProviders.Default;

    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    public string UserAgent { get; set; } = "gateway-grpc-dotnet/1.0";
}

/// <summary>
/// A connection target for gRPC calls over HTTP/2 (h2c prior knowledge for http://, ALPN for
/// https://). Thread-safe; create one per target and reuse it.
/// </summary>
public sealed class GrpcChannel : IDisposable
{
    private readonly HttpMessageInvoker _invoker;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Uri> _methodUris = new(StringComparer.Ordinal);
    private readonly HttpMessageHandler _handler;
    private readonly bool _disposeHandler;

    private GrpcChannel(Uri address, GrpcChannelOptions options)
    {
        Address = address;
        Options = options;
        _handler = options.HttpHandler ?? CreateDefaultHandler();
        _disposeHandler = options.HttpHandler is null || options.DisposeHttpHandler;
        _invoker = new HttpMessageInvoker(_handler, disposeHandler: false);
        AcceptEncoding = CompressionProviders.AcceptEncodingValue(options.CompressionProviders);
        BaseAddress = address.GetLeftPart(UriPartial.Authority);
    }

    public Uri Address { get; }

    internal GrpcChannelOptions Options { get; }

    internal HttpMessageInvoker Invoker => _invoker;

    internal string AcceptEncoding { get; }

    internal string BaseAddress { get; }

    /// <summary>The request URI of a method (base address + /service/method), parsed once per method.</summary>
    internal Uri MethodUri(string fullName) => _methodUris.GetOrAdd(fullName, static (name, baseAddress) => new Uri(baseAddress + name), BaseAddress);

    public static GrpcChannel ForAddress(string address, GrpcChannelOptions? options = null) => ForAddress(new Uri(address), options);

    public static GrpcChannel ForAddress(Uri address, GrpcChannelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        return new GrpcChannel(address, options ?? new GrpcChannelOptions());
    }

    /// <summary>
    /// The handler a channel uses by default: HTTP/2 with several connections when the
    /// server's stream limit is reached, keep-alive pings every 5 minutes (C-core and grpc-go
    /// servers send GOAWAY too_many_pings below that).
    /// </summary>
    public static SocketsHttpHandler CreateDefaultHandler() => new()
    {
        EnableMultipleHttp2Connections = true,
        PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
        KeepAlivePingDelay = TimeSpan.FromMinutes(5),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
        AutomaticDecompression = DecompressionMethods.None,
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
        ConnectTimeout = TimeSpan.FromSeconds(10),
    };

    public AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options = default)
    {
        var call = new GrpcCall<TRequest, TResponse>(this, method, options);
        call.StartUnary(request);
        return new AsyncUnaryCall<TResponse>(call);
    }

    public AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options = default)
    {
        var call = new GrpcCall<TRequest, TResponse>(this, method, options);
        call.StartServerStreaming(request);
        return new AsyncServerStreamingCall<TResponse>(call);
    }

    public AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, CallOptions options = default)
    {
        var call = new GrpcCall<TRequest, TResponse>(this, method, options);
        call.StartClientStreaming();
        return new AsyncClientStreamingCall<TRequest, TResponse>(call);
    }

    public AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, CallOptions options = default)
    {
        var call = new GrpcCall<TRequest, TResponse>(this, method, options);
        call.StartDuplexStreaming();
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(call);
    }

    public void Dispose()
    {
        _invoker.Dispose();
        if (_disposeHandler)
        {
            _handler.Dispose();
        }
    }
}
