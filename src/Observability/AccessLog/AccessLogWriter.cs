using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Gateway.Grpc.Observability.Metrics;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Observability.AccessLog;

/// <summary>
/// Writes access-log entries as JSON lines to stdout or a file, from a background task: calls
/// only enqueue. A full queue drops the line and counts it (<c>gateway_access_log_dropped_total</c>).
/// </summary>
internal sealed partial class AccessLogWriter : IAccessLog, IAsyncDisposable
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, SkipValidation = true };

    private readonly Channel<Queued> _queue;
    private readonly Stream _output;
    private readonly bool _ownsOutput;
    private readonly Task _pump;
    private readonly GatewayMetrics? _metrics;
    private readonly ILogger _logger;
    private long _dropped;

    public AccessLogWriter(string path, int capacity, GatewayMetrics? metrics, ILogger logger)
        : this(OpenOutput(path, out var owns), owns, capacity, metrics, logger)
    {
    }

    internal AccessLogWriter(Stream output, bool ownsOutput, int capacity, GatewayMetrics? metrics, ILogger logger)
    {
        _output = output;
        _ownsOutput = ownsOutput;
        _metrics = metrics;
        _logger = logger;
        _queue = Channel.CreateBounded<Queued>(
            new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true },
            OnDropped);
        _pump = Task.Run(PumpAsync);
    }

    public bool Enabled => true;

    public long Dropped => Interlocked.Read(ref _dropped);

    public static bool IsStdout(string? path) => string.IsNullOrEmpty(path) || path is "-" or "stdout";

    public void Write(in AccessLogEntry entry) => _queue.Writer.TryWrite(new Queued(entry, null));

    /// <summary>Completes once every entry queued before the call is written and flushed.</summary>
    public Task FlushAsync()
    {
        var marker = new FlushMarker();
        if (!_queue.Writer.TryWrite(new Queued(default, marker)))
        {
            marker.Done.TrySetResult();
        }

        return marker.Done.Task;
    }

    /// <summary>The JSON line of an entry (without the line feed). Fields that do not apply are left out.</summary>
    internal static void WriteEntry(Utf8JsonWriter json, in AccessLogEntry e)
    {
        json.WriteStartObject();
        json.WriteString("ts", e.Timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
        json.WriteString("request_id", e.RequestId);
        json.WriteString("route", e.Route);
        json.WriteString("method", e.Method);
        json.WriteBoolean("stream", e.Stream);
        WriteOptional(json, "key_id", e.KeyId);
        WriteOptional(json, "team", e.Team);
        json.WriteString("model", e.Model);
        WriteOptional(json, "response_model", e.ResponseModel);
        WriteOptional(json, "provider", e.Provider);
        WriteOptional(json, "deployment", e.Deployment);
        json.WriteString("status", e.Status);
        WriteOptional(json, "error_kind", e.ErrorKind);
        WriteOptional(json, "finish_reason", e.FinishReason);
        json.WriteNumber("input_tokens", e.InputTokens);
        json.WriteNumber("output_tokens", e.OutputTokens);
        if (e.CachedInputTokens > 0)
        {
            json.WriteNumber("cached_input_tokens", e.CachedInputTokens);
        }

        if (e.TokensEstimated)
        {
            json.WriteBoolean("tokens_estimated", true);
        }

        json.WriteNumber("cost_usd", Math.Round(e.CostUsd, 8));
        json.WriteNumber("latency_ms", Math.Round(e.LatencyMs, 3));
        if (e.TimeToFirstTokenMs is { } ttft)
        {
            json.WriteNumber("ttft_ms", Math.Round(ttft, 3));
        }

        json.WriteNumber("attempts", e.Attempts);
        WriteOptional(json, "attempt_trail", e.AttemptTrail);
        json.WriteBoolean("fallback", e.Fallback);
        json.WriteBoolean("hedged", e.Hedged);
        json.WriteBoolean("cache_hit", e.CacheHit);
        WriteOptional(json, "guardrail_triggered", e.GuardrailTriggered);
        WriteOptional(json, "task_class", e.TaskClass);
        WriteOptional(json, "routed_model", e.RoutedModel);
        if (e.Continuations > 0)
        {
            json.WriteNumber("continuations", e.Continuations);
        }

        WriteOptional(json, "trace_id", e.TraceId);
        WriteOptional(json, "prompt", e.Prompt);
        WriteOptional(json, "completion", e.Completion);
        json.WriteEndObject();
    }

    private static void WriteOptional(Utf8JsonWriter json, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            json.WriteString(name, value);
        }
    }

    private static Stream OpenOutput(string path, out bool owns)
    {
        if (IsStdout(path))
        {
            owns = false;
            return Console.OpenStandardOutput();
        }

        owns = true;
        return new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Append,
            Access = FileAccess.Write,
            Share = FileShare.ReadWrite,
            Options = FileOptions.Asynchronous,
        });
    }

    private void OnDropped(Queued item)
    {
        if (item.Marker is { } marker)
        {
            marker.Done.TrySetResult();
            return;
        }

        if (Interlocked.Increment(ref _dropped) == 1)
        {
            Log.Dropping(_logger);
        }

        _metrics?.RecordAccessLogDropped();
    }

    private async Task PumpAsync()
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        await using var json = new Utf8JsonWriter(buffer, WriterOptions);
        var markers = new List<FlushMarker>();
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // Drain what is there, write it in one go, flush once.
            while (reader.TryRead(out var item))
            {
                if (item.Marker is { } marker)
                {
                    markers.Add(marker);
                    continue;
                }

                json.Reset(buffer);
                WriteEntry(json, item.Entry);
                json.Flush();
                buffer.Write("\n"u8);
                if (buffer.WrittenCount >= 64 * 1024)
                {
                    await WriteBufferAsync(buffer).ConfigureAwait(false);
                }
            }

            await WriteBufferAsync(buffer).ConfigureAwait(false);
            try
            {
                await _output.FlushAsync().ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                Log.WriteFailed(_logger, ex);
            }

            foreach (var marker in markers)
            {
                marker.Done.TrySetResult();
            }

            markers.Clear();
        }
    }

    private async Task WriteBufferAsync(ArrayBufferWriter<byte> buffer)
    {
        if (buffer.WrittenCount == 0)
        {
            return;
        }

        try
        {
            await _output.WriteAsync(buffer.WrittenMemory).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            Log.WriteFailed(_logger, ex);
        }

        buffer.ResetWrittenCount();
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _pump.ConfigureAwait(false);
        if (_ownsOutput)
        {
            await _output.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A line to write, or (with a marker) a flush request: the queue holds them in place.</summary>
    private readonly record struct Queued(AccessLogEntry Entry, FlushMarker? Marker);

    private sealed class FlushMarker
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static partial class Log
    {
        [LoggerMessage(900, LogLevel.Warning, "The access log is falling behind; lines are being dropped (see gateway_access_log_dropped_total).", EventName = "AccessLogDropping")]
        public static partial void Dropping(ILogger logger);

        [LoggerMessage(901, LogLevel.Error, "Writing the access log failed.", EventName = "AccessLogWriteFailed")]
        public static partial void WriteFailed(ILogger logger, Exception exception);
    }
}
