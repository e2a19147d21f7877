using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Gateway.Grpc.Server.Pipeline;
using Gateway.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Grpc.Server.Rest;

/// <summary>
/// The completion pipeline's event writer for a REST caller: turns each <see cref="CompletionChunk"/> into an
/// OpenAI <c>chat.completion.chunk</c> Server-Sent Event and flushes it at once (the flush is
/// the back-pressure). The response starts with the first event, so errors before any output
/// still get a proper HTTP status. <c>data: [DONE]</c> is written only by
/// <see cref="CompleteAsync"/> after a <c>finish</c> event; a failure after the start becomes a
/// <c>data: {"error":...}</c> event and the stream ends without <c>[DONE]</c>.
/// </summary>
internal sealed class OpenAiSseWriter(HttpContext httpContext, bool includeUsage) : ICompletionEventWriter, IDisposable
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    private readonly PipeWriter _body = httpContext.Response.BodyWriter;
    private Utf8JsonWriter? _json;
    private StreamIdentity _identity = new("", 0, "");
    private Usage? _usage;
    private bool _finished;
    private bool _ended;
    private int _writing;

    /// <summary>True once the response (status 200, text/event-stream) has started.</summary>
    public bool Started { get; private set; }

    /// <summary>A <c>finish</c> event was written.</summary>
    public bool Finished => _finished;

    /// <summary>The in-band error the service sent before failing the call, if any.</summary>
    public StreamError? StreamError { get; private set; }

    public async Task WriteAsync(CompletionChunk message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (Interlocked.Exchange(ref _writing, 1) != 0)
        {
            throw new InvalidOperationException("Can't write the message because the previous write is in progress.");
        }

        try
        {
            if (_ended)
            {
                throw new InvalidOperationException("Can't write the message because the stream is complete.");
            }

            switch (message.EventCase)
            {
                case CompletionChunk.EventOneofCase.Start:
                    var start = message.Start;
                    _identity = new StreamIdentity(start.Id, start.Created, start.Model);
                    WriteRoleChunk();
                    break;
                case CompletionChunk.EventOneofCase.Delta:
                    EnsureStarted();
                    WriteContentChunk(message.Delta.Text);
                    break;
                case CompletionChunk.EventOneofCase.ToolCallDelta:
                    EnsureStarted();
                    WriteToolCallChunk(message.ToolCallDelta);
                    break;
                case CompletionChunk.EventOneofCase.Usage:
                    // OpenAI sends usage after the finish chunk; hold it until then.
                    _usage = message.Usage;
                    return;
                case CompletionChunk.EventOneofCase.Finish:
                    EnsureStarted();
                    WriteFinishChunks(message.Finish);
                    _finished = true;
                    break;
                case CompletionChunk.EventOneofCase.Error:
                    // The service fails the call right after this; the failure is written once, then.
                    StreamError = message.Error;
                    return;
                default:
                    return;
            }

            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _writing, 0);
        }
    }

    /// <summary>The handler returned normally: <c>[DONE]</c> if the stream finished, else an error event.</summary>
    public async Task CompleteAsync(string requestId, CancellationToken cancellationToken)
    {
        if (!_finished)
        {
            await FailAsync(RestErrorMapping.Create(StatusCode.Internal, $"The stream ended without a finish event. Quote request id {requestId} when reporting it.", code: "stream_interrupted"), cancellationToken).ConfigureAwait(false);
            return;
        }

        _ended = true;
        _body.Write(Done);
        await FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Ends a started stream with <c>data: {"error":{...}}</c> and no <c>[DONE]</c>. The caller
    /// writes a plain JSON error instead when <see cref="Started"/> is false.
    /// </summary>
    public async Task FailAsync(RestError error, CancellationToken cancellationToken)
    {
        if (_ended)
        {
            return;
        }

        _ended = true;
        EnsureStarted();
        _body.Write(DataPrefix);
        var json = Json();
        RestErrorMapping.WriteOpenAiErrorObject(json, error);
        json.Flush();
        _body.Write(EventEnd);
        await FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _json?.Dispose();

    private void EnsureStarted()
    {
        if (Started)
        {
            return;
        }

        Started = true;
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        // Tell buffering proxies (nginx) to pass events through as they come.
        response.Headers["X-Accel-Buffering"] = "no";
        httpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    private void WriteRoleChunk()
    {
        EnsureStarted();
        var json = BeginEvent();
        json.WriteStartObject("delta");
        json.WriteString("role", "assistant");
        json.WriteString("content", "");
        json.WriteNull("refusal");
        json.WriteEndObject();
        EndEvent(json, null);
    }

    private void WriteContentChunk(string text)
    {
        var json = BeginEvent();
        json.WriteStartObject("delta");
        json.WriteString("content", text);
        json.WriteEndObject();
        EndEvent(json, null);
    }

    private void WriteToolCallChunk(ToolCallDelta delta)
    {
        var json = BeginEvent();
        json.WriteStartObject("delta");
        json.WriteStartArray("tool_calls");
        json.WriteStartObject();
        json.WriteNumber("index", delta.Index);
        if (delta.Id.Length > 0)
        {
            json.WriteString("id", delta.Id);
            json.WriteString("type", "function");
        }

        json.WriteStartObject("function");
        if (delta.Name.Length > 0)
        {
            json.WriteString("name", delta.Name);
        }

        json.WriteString("arguments", delta.ArgumentsDelta);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
        EndEvent(json, null);
    }

    private void WriteFinishChunks(Finish finish)
    {
        var json = BeginEvent();
        json.WriteStartObject("delta");
        json.WriteEndObject();
        EndEvent(json, OpenAiResponseWriter.FinishReasonName(finish.Reason));
        if (includeUsage)
        {
            _body.Write(DataPrefix);
            json = Json();
            OpenAiResponseWriter.WriteUsageChunk(json, _identity, _usage ?? new Usage());
            json.Flush();
            _body.Write(EventEnd);
        }
    }

    private Utf8JsonWriter BeginEvent()
    {
        _body.Write(DataPrefix);
        var json = Json();
        OpenAiResponseWriter.BeginChunk(json, _identity);
        return json;
    }

    private void EndEvent(Utf8JsonWriter json, string? finishReason)
    {
        OpenAiResponseWriter.EndChunk(json, finishReason, includeUsage);
        json.Flush();
        _body.Write(EventEnd);
    }

    private Utf8JsonWriter Json()
    {
        if (_json is null)
        {
            _json = new Utf8JsonWriter(_body, RestJson.WriterOptions);
        }
        else
        {
            _json.Reset(_body);
        }

        return _json;
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        var result = await _body.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCanceled || result.IsCompleted)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new OperationCanceledException("The client closed the event stream.");
        }
    }
}
