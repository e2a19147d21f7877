using System.Buffers;
using System.IO.Pipelines;
using System.Text;

namespace Gateway.Grpc.Adapters.Streaming;

/// <summary>
/// Reads a <c>text/event-stream</c> body event by event, following the WHATWG HTML
/// "Interpreting an event stream" rules (§9.2.6):
/// lines end in CRLF, LF or CR (a CR at the end of one read and an LF at the start of the next
/// are one line ending); a line starting with ':' is a comment; <c>field:value</c> loses one
/// space after the colon; <c>data</c> lines are joined with LF; <c>event</c> names the event;
/// <c>id</c> and <c>retry</c> are ignored (we never reconnect); a blank line dispatches the event,
/// and a blank line with no data (keep-alive) dispatches nothing; a partial event at end of
/// stream is discarded.
/// </summary>
/// <remarks>
/// Works on bytes from a <see cref="PipeReader"/>; the data of the current event lives in a
/// pooled buffer (<see cref="Data"/>, valid until the next <see cref="ReadAsync"/>). The only
/// allocation per event is the optional decoded <see cref="DataString"/>; repeated event names
/// reuse the previous string.
/// </remarks>
internal sealed class SseReader : IAsyncDisposable
{
    /// <summary>Largest event accepted (sum of its data lines); a bigger one is a broken upstream.</summary>
    public const int DefaultMaxEventSize = 16 * 1024 * 1024;

    private static ReadOnlySpan<byte> LineEnds => "\r\n"u8;

    private readonly PipeReader _reader;
    private readonly int _maxEventSize;
    private byte[] _data;
    private int _dataLength;
    private bool _hasData;
    private byte[] _scratch;
    private string? _eventName;
    private string? _lastEventName;
    private string? _dataString;
    private bool _skipLf;

    public SseReader(Stream stream, int maxEventSize = DefaultMaxEventSize)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 1024, leaveOpen: true));
        _maxEventSize = maxEventSize;
        _data = ArrayPool<byte>.Shared.Rent(4096);
        _scratch = ArrayPool<byte>.Shared.Rent(256);
    }

    /// <summary>The current event's name (<c>event:</c> field), or null when it had none ("message").</summary>
    public string? EventName => _eventName;

    /// <summary>The current event's data (data lines joined with LF), UTF-8.</summary>
    public ReadOnlyMemory<byte> Data => _data.AsMemory(0, _dataLength);

    /// <summary>The current event's data decoded as UTF-8 (decoded once, on first use).</summary>
    public string DataString => _dataString ??= Encoding.UTF8.GetString(_data, 0, _dataLength);

    /// <summary>
    /// Reads up to the next dispatched event. Returns false at the end of the stream (any partial
    /// event is discarded). Transport errors (<see cref="IOException"/>) propagate.
    /// </summary>
    public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        _dataLength = 0;
        _hasData = false;
        _eventName = null;
        _dataString = null;
        while (true)
        {
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            var dispatched = false;
            try
            {
                dispatched = ParseLines(buffer, out consumed);
                if (!dispatched && result.IsCompleted)
                {
                    // §9.2.6: at end of file, pending data is discarded; a final line without its
                    // line ending is not a line.
                    consumed = buffer.End;
                    _dataLength = 0;
                    _hasData = false;
                    _eventName = null;
                    return false;
                }
            }
            finally
            {
                _reader.AdvanceTo(consumed, dispatched ? consumed : buffer.End);
            }

            if (dispatched)
            {
                return true;
            }
        }
    }

    /// <summary>Parses whole lines; returns true (with <paramref name="consumed"/> after the blank line) when an event is ready.</summary>
    private bool ParseLines(ReadOnlySequence<byte> buffer, out SequencePosition consumed)
    {
        var reader = new SequenceReader<byte>(buffer);
        while (true)
        {
            if (_skipLf)
            {
                if (reader.End)
                {
                    break;
                }

                _skipLf = false;
                if (reader.IsNext((byte)'\n', advancePast: true))
                {
                    continue;
                }
            }

            if (!reader.TryReadToAny(out ReadOnlySequence<byte> line, LineEnds, advancePastDelimiter: false))
            {
                break;
            }

            reader.TryRead(out var delimiter);
            if (delimiter == (byte)'\r')
            {
                // CRLF is one line ending; when the LF has not arrived yet, skip it when it does.
                if (!reader.IsNext((byte)'\n', advancePast: true) && reader.End)
                {
                    _skipLf = true;
                }
            }

            if (ProcessLine(line))
            {
                consumed = reader.Position;
                return true;
            }
        }

        consumed = reader.Position;
        return false;
    }

    private bool ProcessLine(in ReadOnlySequence<byte> sequence)
    {
        if (sequence.IsEmpty)
        {
            if (!_hasData)
            {
                // Keep-alive or an event with no data: nothing to dispatch (§9.2.6 "dispatch the event" step 2).
                _eventName = null;
                return false;
            }

            return true;
        }

        ReadOnlySpan<byte> line;
        if (sequence.IsSingleSegment)
        {
            line = sequence.FirstSpan;
        }
        else
        {
            var length = checked((int)sequence.Length);
            if (length > _maxEventSize)
            {
                throw new InvalidDataException($"An event-stream line of {length} bytes exceeds the {_maxEventSize}-byte limit.");
            }

            if (_scratch.Length < length)
            {
                ArrayPool<byte>.Shared.Return(_scratch);
                _scratch = ArrayPool<byte>.Shared.Rent(length);
            }

            sequence.CopyTo(_scratch);
            line = _scratch.AsSpan(0, length);
        }

        if (line[0] == (byte)':')
        {
            return false;
        }

        var colon = line.IndexOf((byte)':');
        ReadOnlySpan<byte> field, value;
        if (colon < 0)
        {
            field = line;
            value = default;
        }
        else
        {
            field = line[..colon];
            value = line[(colon + 1)..];
            if (!value.IsEmpty && value[0] == (byte)' ')
            {
                value = value[1..];
            }
        }

        if (field.SequenceEqual("data"u8))
        {
            AppendData(value);
        }
        else if (field.SequenceEqual("event"u8))
        {
            _eventName = EventNameFor(value);
        }

        // "id", "retry" and unknown fields are ignored: the adapters never reconnect.
        return false;
    }

    private void AppendData(ReadOnlySpan<byte> value)
    {
        var needed = _dataLength + (_hasData ? 1 : 0) + value.Length;
        if (needed > _maxEventSize)
        {
            throw new InvalidDataException($"An event-stream event of more than {_maxEventSize} bytes was received.");
        }

        if (needed > _data.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _data.Length * 2));
            _data.AsSpan(0, _dataLength).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_data);
            _data = bigger;
        }

        if (_hasData)
        {
            _data[_dataLength++] = (byte)'\n';
        }

        value.CopyTo(_data.AsSpan(_dataLength));
        _dataLength += value.Length;
        _hasData = true;
    }

    private string EventNameFor(ReadOnlySpan<byte> value)
    {
        // Providers repeat a handful of names; reuse the last string when the bytes match.
        if (_lastEventName is { } last && last.Length == value.Length && Ascii.Equals(value, last))
        {
            return last;
        }

        return _lastEventName = Encoding.UTF8.GetString(value);
    }

    public async ValueTask DisposeAsync()
    {
        await _reader.CompleteAsync().ConfigureAwait(false);
        var data = Interlocked.Exchange(ref _data, []);
        if (data.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(data);
        }

        var scratch = Interlocked.Exchange(ref _scratch, []);
        if (scratch.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }
}
