using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text.Encodings.Web;
using System.Text.Json;
using Gateway.Grpc.Simulator.Faults;
using Gateway.Grpc.Simulator.Internal;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Simulator.Http;

/// <summary>
/// One provider request in flight: its record, faults and cancellation, a reusable JSON buffer,
/// and the writing primitives every dialect uses (unary JSON, SSE events flushed one by one,
/// pacing, hang, disconnect, malformed payloads).
/// </summary>
internal sealed class HttpExchange : IDisposable
{
    private static readonly byte[] EventPrefix = "event: "u8.ToArray();
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] LineFeed = "\n"u8.ToArray();

    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private readonly Utf8JsonWriter _writer;
    private readonly CancellationTokenSource _cts;
    private readonly TimeProvider _timeProvider;
    private Pacer? _pacer;
    private bool _malformedPending;

    public HttpExchange(HttpContext context, RequestRecord record, TimeProvider timeProvider, CancellationToken stopping)
    {
        Context = context;
        Record = record;
        _timeProvider = timeProvider;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        _writer = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    public HttpContext Context { get; }

    /// <summary>The wire format being spoken (writes in-stream errors).</summary>
    public required ProviderDialect Dialect { get; init; }

    /// <summary>Per-stream state a dialect keeps between events (Gemini's array framing).</summary>
    public object? DialectState { get; set; }

    public RequestRecord Record { get; }

    /// <summary>
    /// True once the client went away before the stream's terminal write: RequestAborted fired or
    /// the response pipe was closed under us. A client that leaves during or after the terminal
    /// write has read everything it was owed (the gateway closes a stream once it has read its
    /// end, which can beat the last flush's completion), so that is not an abort.
    /// </summary>
    public bool ClientGone
    {
        get => !TerminalWritten && (field || Context.RequestAborted.IsCancellationRequested);
        private set;
    }

    /// <summary>Set by <see cref="BeginTerminalWrite"/>: the write that ends the stream is under way.</summary>
    public bool TerminalWritten { get; private set; }

    public FaultSettings Faults
    {
        get;
        set
        {
            field = value;
            _pacer = new Pacer(_timeProvider, value.TtftMs, value.TokensPerSecond);
        }
    } = new();

    private Pacer Pacer => _pacer ??= new Pacer(_timeProvider, 0, 0);

    /// <summary>Client gone or server stopping.</summary>
    public CancellationToken Token => _cts.Token;

    public long Created => _timeProvider.GetUtcNow().ToUnixTimeSeconds();

    /// <summary>Starts a JSON payload in the reusable buffer.</summary>
    public Utf8JsonWriter BeginJson()
    {
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
        return _writer;
    }

    private ReadOnlyMemory<byte> EndJson()
    {
        _writer.Flush();
        return _buffer.WrittenMemory;
    }

    public Task DelayAsync(int milliseconds)
        => milliseconds <= 0 ? Task.CompletedTask : Task.Delay(TimeSpan.FromMilliseconds(milliseconds), _timeProvider, Token);

    /// <summary>Sends the buffered JSON as the whole response body (honours malformed and disconnect).</summary>
    public async Task SendJsonAsync(int status)
    {
        var payload = EndJson();
        var response = Context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        if (Faults.Malformed)
        {
            payload = payload[..(payload.Length / 2)];
        }

        if (Faults.DisconnectAfter is not null)
        {
            // Unary: the headers and half the body, then the connection drops.
            await response.StartAsync(Token).ConfigureAwait(false);
            await response.Body.WriteAsync(payload[..(payload.Length / 2)], Token).ConfigureAwait(false);
            await response.Body.FlushAsync(Token).ConfigureAwait(false);
            Disconnect();
            return;
        }

        response.ContentLength = payload.Length;
        await response.Body.WriteAsync(payload, Token).ConfigureAwait(false);
    }

    /// <summary>Waits out time-to-first-token plus the whole generation, for unary answers.</summary>
    public Task PaceUnaryAsync(int units) => Pacer.WholeAsync(units, Token);

    /// <summary>Sends 200 with an event-stream content type and flushes the headers.</summary>
    public async Task StartStreamAsync(string contentType)
    {
        var response = Context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = contentType;
        response.Headers.CacheControl = "no-cache";
        await response.StartAsync(Token).ConfigureAwait(false);
        await FlushAsync().ConfigureAwait(false);
        _malformedPending = Faults.Malformed;
        Pacer.Start();
    }

    /// <summary>
    /// Writes the buffered JSON as one SSE event (<c>event:</c> line when named) and flushes it.
    /// <paramref name="malformable"/>: the first such event of a malformed stream is cut in half.
    /// </summary>
    public async Task SendEventAsync(byte[]? eventName, bool malformable, byte[] terminator)
    {
        var payload = EndJson();
        if (malformable && _malformedPending)
        {
            _malformedPending = false;
            payload = payload[..(payload.Length / 2)];
        }

        var writer = Context.Response.BodyWriter;
        if (eventName is not null)
        {
            writer.Write(EventPrefix);
            writer.Write(eventName);
            writer.Write(LineFeed);
        }

        writer.Write(DataPrefix);
        writer.Write(payload.Span);
        writer.Write(terminator);
        await FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Writes the buffered JSON with no framing (JSON-array streams) and flushes.</summary>
    public async Task SendJsonElementAsync(bool malformable = true)
    {
        var payload = EndJson();
        if (malformable && _malformedPending)
        {
            _malformedPending = false;
            payload = payload[..(payload.Length / 2)];
        }

        Context.Response.BodyWriter.Write(payload.Span);
        await FlushAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Call right before the write that ends a stream (<c>data: [DONE]</c>, <c>message_stop</c>,
    /// Gemini's last chunk or closing bracket): from here on a closed pipe is the client leaving
    /// after the end, not an abort.
    /// </summary>
    public void BeginTerminalWrite() => TerminalWritten = true;

    /// <summary>Writes bytes as they are (e.g. <c>data: [DONE]</c>) and flushes.</summary>
    public async Task SendRawAsync(byte[] bytes)
    {
        Context.Response.BodyWriter.Write(bytes);
        await FlushAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Call before each streamed output token: cuts the connection once x-sim-disconnect-after
    /// tokens went out (returns false), otherwise waits for the token's due time
    /// (ttft + n / tokens-per-second from the stream start) and returns true.
    /// </summary>
    public async ValueTask<bool> NextUnitAsync()
    {
        if (Faults.DisconnectAfter is { } limit && Pacer.Units >= limit)
        {
            Disconnect();
            return false;
        }

        if (Faults.ErrorAfter is { } errorAfter && Pacer.Units >= errorAfter)
        {
            await SendStreamErrorAsync().ConfigureAwait(false);
            return false;
        }

        await Pacer.NextAsync(Token).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Call before the terminal events: a disconnect or stream-error fault that has not fired yet
    /// (the answer was shorter than N) fires here, so the terminal events never go out.
    /// </summary>
    public async ValueTask<bool> InterruptBeforeEndAsync()
    {
        if (Faults.DisconnectAfter is not null)
        {
            Disconnect();
            return true;
        }

        if (Faults.ErrorAfter is not null)
        {
            await SendStreamErrorAsync().ConfigureAwait(false);
            return true;
        }

        return false;
    }

    private Task SendStreamErrorAsync()
    {
        var status = Faults.StreamErrorStatus;
        return Dialect.WriteStreamErrorAsync(this, new ApiError(status, Faults.Message ?? Dialect.DefaultMessage(status, Record.Model)));
    }

    /// <summary>Sends 200 headers, then nothing until the client leaves (or the server stops).</summary>
    public async Task HangAsync(string contentType)
    {
        var response = Context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = contentType;
        await response.StartAsync(Token).ConfigureAwait(false);
        await FlushAsync().ConfigureAwait(false);
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, _timeProvider, Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!Context.RequestAborted.IsCancellationRequested)
        {
            // Server stopping: cut the connection so the client sees it end.
            Disconnect();
            throw;
        }
    }

    /// <summary>
    /// Cuts the connection mid-response. On HTTP/1.1 the socket's send side is shut first, so
    /// everything already written reaches the client followed by a FIN (a bare abort resets
    /// the connection and the client loses the tokens it was owed); then the request is aborted.
    /// </summary>
    public void Disconnect()
    {
        Record.MarkDisconnected();
        if (Context.Features.Get<IConnectionSocketFeature>()?.Socket is { Connected: true } socket
            && string.Equals(Context.Request.Protocol, "HTTP/1.1", StringComparison.Ordinal))
        {
            try
            {
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
                // Already gone: nothing to flush.
            }
            catch (ObjectDisposedException)
            {
            }
        }

        Context.Abort();
    }

    private async Task FlushAsync()
    {
        FlushResult result;
        try
        {
            result = await Context.Response.BodyWriter.FlushAsync(Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (TerminalWritten && Context.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        if (TerminalWritten)
        {
            return;
        }

        if (result.IsCanceled || result.IsCompleted)
        {
            // Kestrel completes the response pipe when the connection goes, and may do so before
            // it signals RequestAborted (that is raised on the thread pool): this is the client leaving.
            ClientGone = true;
            throw new OperationCanceledException("The client stopped reading the response.");
        }
    }

    public void Dispose()
    {
        _writer.Dispose();
        _cts.Dispose();
    }
}
