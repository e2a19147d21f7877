using System.Runtime.CompilerServices;

namespace Gateway.Grpc.Protocol.Client;

/// <summary>A unary call in flight. Await it (or <see cref="ResponseAsync"/>) for the response.</summary>
public sealed class AsyncUnaryCall<TResponse> : IDisposable
{
    private readonly IGrpcCall<TResponse> _call;

    internal AsyncUnaryCall(IGrpcCall<TResponse> call)
    {
        _call = call;
        ResponseAsync = call.GetUnaryResponseAsync();
    }

    public Task<TResponse> ResponseAsync { get; }

    public Task<Metadata> ResponseHeadersAsync => _call.ResponseHeadersAsync;

    public TaskAwaiter<TResponse> GetAwaiter() => ResponseAsync.GetAwaiter();

    /// <summary>The call's status; only valid once the call has ended.</summary>
    public Status GetStatus() => _call.GetStatus();

    public Metadata GetTrailers() => _call.GetTrailers();

    /// <summary>Cancels the call if it is still running (the server sees RST_STREAM CANCEL).</summary>
    public void Dispose() => _call.Dispose();
}

public sealed class AsyncServerStreamingCall<TResponse> : IDisposable
{
    private readonly IGrpcCall<TResponse> _call;

    internal AsyncServerStreamingCall(IGrpcCall<TResponse> call) => _call = call;

    public IAsyncStreamReader<TResponse> ResponseStream => _call.ResponseStream;

    public Task<Metadata> ResponseHeadersAsync => _call.ResponseHeadersAsync;

    public Status GetStatus() => _call.GetStatus();

    public Metadata GetTrailers() => _call.GetTrailers();

    public void Dispose() => _call.Dispose();
}

public sealed class AsyncClientStreamingCall<TRequest, TResponse> : IDisposable
{
    private readonly GrpcCall<TRequest, TResponse> _call;

    internal AsyncClientStreamingCall(GrpcCall<TRequest, TResponse> call)
    {
        _call = call;
        ResponseAsync = call.GetUnaryResponseAsync();
    }

    public IClientStreamWriter<TRequest> RequestStream => _call.RequestStream;

    public Task<TResponse> ResponseAsync { get; }

    public Task<Metadata> ResponseHeadersAsync => _call.ResponseHeadersAsync;

    public TaskAwaiter<TResponse> GetAwaiter() => ResponseAsync.GetAwaiter();

    public Status GetStatus() => _call.GetStatus();

    public Metadata GetTrailers() => _call.GetTrailers();

    public void Dispose() => _call.Dispose();
}

public sealed class AsyncDuplexStreamingCall<TRequest, TResponse> : IDisposable
{
    private readonly GrpcCall<TRequest, TResponse> _call;

    internal AsyncDuplexStreamingCall(GrpcCall<TRequest, TResponse> call) => _call = call;

    public IClientStreamWriter<TRequest> RequestStream => _call.RequestStream;

    public IAsyncStreamReader<TResponse> ResponseStream => _call.ResponseStream;

    public Task<Metadata> ResponseHeadersAsync => _call.ResponseHeadersAsync;

    public Status GetStatus() => _call.GetStatus();

    public Metadata GetTrailers() => _call.GetTrailers();

    public void Dispose() => _call.Dispose();
}

internal interface IGrpcCall<TResponse> : IDisposable
{
    Task<Metadata> ResponseHeadersAsync { get; }

    IAsyncStreamReader<TResponse> ResponseStream { get; }

    Task<TResponse> GetUnaryResponseAsync();

    Status GetStatus();

    Metadata GetTrailers();
}
