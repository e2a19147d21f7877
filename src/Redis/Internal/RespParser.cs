using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace Gateway.Grpc.Redis.Internal;

/// <summary>
/// RESP2 reply parser over a <see cref="ReadOnlySequence{T}"/> (the buffer of a PipeReader).
/// Two passes per reply: <see cref="TryFindEnd"/> walks the bytes without allocating to see whether a
/// whole reply has arrived (so a fragmented reply is never half-materialized and re-allocated), then
/// <see cref="ReadValue"/> builds the values. Arrays are walked iteratively with a bounded stack, so a
/// hostile <c>*1\r\n*1\r\n...</c> cannot overflow the call stack.
/// </summary>
/// <remarks>Spec: https://redis.io/docs/reference/protocol-spec/ (RESP2: + - : $ *, CRLF terminated).</remarks>
internal static class RespParser
{
    /// <summary>Deepest array nesting accepted. Real replies (COMMAND, XREAD, nested Lua tables) stay far below.</summary>
    public const int MaxDepth = 64;

    /// <summary>Longest simple-string/error/length line accepted; beyond it without CRLF the stream is treated as garbage.</summary>
    public const int MaxLineLength = 64 * 1024;

    /// <summary>Largest bulk string accepted: Redis's own proto-max-bulk-len default (512 MB).</summary>
    public const long MaxBulkLength = 512L * 1024 * 1024;

    /// <summary>
    /// Reads one complete reply from the start of <paramref name="buffer"/> and slices it off.
    /// Returns false (buffer untouched) when the reply is not complete yet.
    /// </summary>
    /// <exception cref="RedisProtocolException">The bytes are not valid RESP2.</exception>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, out RedisResult? result)
    {
        if (!TryFindEnd(buffer, out var end))
        {
            result = null;
            return false;
        }

        var reader = new SequenceReader<byte>(buffer.Slice(0, end));
        result = ReadValue(ref reader);
        buffer = buffer.Slice(end);
        return true;
    }

    /// <summary>Finds the end of the first complete reply, validating its framing. No allocation.</summary>
    public static bool TryFindEnd(in ReadOnlySequence<byte> buffer, out SequencePosition end)
    {
        end = default;
        var reader = new SequenceReader<byte>(buffer);
        Span<int> stack = stackalloc int[MaxDepth];
        var depth = 0;
        var remaining = 1; // elements still to read at the current nesting level
        while (true)
        {
            if (!reader.TryRead(out var marker))
            {
                return false;
            }

            remaining--;
            switch (marker)
            {
                case (byte)'+':
                case (byte)'-':
                    if (!TryReadLine(ref reader, out _))
                    {
                        return false;
                    }

                    break;
                case (byte)':':
                    if (!TryReadInteger(ref reader, "integer reply", out _))
                    {
                        return false;
                    }

                    break;
                case (byte)'$':
                    if (!TryReadInteger(ref reader, "bulk string length", out var length))
                    {
                        return false;
                    }

                    if (length == -1)
                    {
                        break;
                    }

                    if (length is < 0 or > MaxBulkLength)
                    {
                        throw Error($"bulk string length {length} is out of range (-1 or 0..{MaxBulkLength})");
                    }

                    if (reader.Remaining < length + 2)
                    {
                        return false;
                    }

                    reader.Advance(length);
                    ExpectCrLf(ref reader);
                    break;
                case (byte)'*':
                    if (!TryReadInteger(ref reader, "array length", out var count))
                    {
                        return false;
                    }

                    if (count == -1 || count == 0)
                    {
                        break;
                    }

                    if (count < 0 || count > Array.MaxLength)
                    {
                        throw Error($"array length {count} is out of range (-1 or 0..{Array.MaxLength})");
                    }

                    if (depth == MaxDepth)
                    {
                        throw Error($"arrays nested deeper than {MaxDepth} levels");
                    }

                    stack[depth++] = remaining;
                    remaining = (int)count;
                    break;
                default:
                    throw Error($"expected a type marker (+ - : $ *) but got {Describe(marker)}");
            }

            while (remaining == 0)
            {
                if (depth == 0)
                {
                    end = reader.Position;
                    return true;
                }

                remaining = stack[--depth];
            }
        }
    }

    /// <summary>Materializes one reply whose framing <see cref="TryFindEnd"/> has validated.</summary>
    public static RedisResult ReadValue(ref SequenceReader<byte> reader)
    {
        if (!reader.TryRead(out var marker))
        {
            throw Error("reply truncated");
        }

        ReadOnlySequence<byte> line;
        switch (marker)
        {
            case (byte)'+':
                ReadLine(ref reader, out line);
                return IsOk(line) ? RedisResult.Ok : RedisResult.FromSimpleString(Encoding.UTF8.GetString(line));
            case (byte)'-':
                ReadLine(ref reader, out line);
                return RedisResult.FromError(Encoding.UTF8.GetString(line));
            case (byte)':':
                ReadLine(ref reader, out line);
                return RedisResult.FromInteger(ParseInteger(line, "integer reply"));
            case (byte)'$':
                ReadLine(ref reader, out line);
                var length = ParseInteger(line, "bulk string length");
                if (length == -1)
                {
                    return RedisResult.NullBulkString;
                }

                var bytes = GC.AllocateUninitializedArray<byte>((int)length);
                if (!reader.TryCopyTo(bytes))
                {
                    throw Error("bulk string truncated");
                }

                reader.Advance(length);
                ExpectCrLf(ref reader);
                return RedisResult.FromBulkString(bytes);
            case (byte)'*':
                ReadLine(ref reader, out line);
                var count = ParseInteger(line, "array length");
                if (count == -1)
                {
                    return RedisResult.NullArray;
                }

                if (count == 0)
                {
                    return RedisResult.EmptyArray;
                }

                var items = new RedisResult[count];
                for (var i = 0; i < items.Length; i++)
                {
                    items[i] = ReadValue(ref reader);
                }

                return RedisResult.FromArray(items);
            default:
                throw Error($"expected a type marker (+ - : $ *) but got {Describe(marker)}");
        }
    }

    private static void ReadLine(ref SequenceReader<byte> reader, out ReadOnlySequence<byte> line)
    {
        if (!TryReadLine(ref reader, out line))
        {
            throw Error("line truncated");
        }
    }

    private static bool TryReadLine(ref SequenceReader<byte> reader, out ReadOnlySequence<byte> line)
    {
        if (!reader.TryReadTo(out line, (byte)'\n'))
        {
            if (reader.Remaining > MaxLineLength)
            {
                throw Error($"no CRLF within {MaxLineLength} bytes");
            }

            return false;
        }

        if (line.Length == 0 || line.Slice(line.Length - 1).FirstSpan[0] != (byte)'\r')
        {
            throw Error("a line ends with a bare LF; RESP lines end with CRLF");
        }

        if (line.Length - 1 > MaxLineLength)
        {
            throw Error($"a line is longer than {MaxLineLength} bytes");
        }

        line = line.Slice(0, line.Length - 1);
        return true;
    }

    private static bool TryReadInteger(ref SequenceReader<byte> reader, string what, out long value)
    {
        if (!TryReadLine(ref reader, out var line))
        {
            value = 0;
            return false;
        }

        value = ParseInteger(line, what);
        return true;
    }

    private static long ParseInteger(in ReadOnlySequence<byte> line, string what)
    {
        // "-9223372036854775808" is the longest valid value: 20 bytes.
        if (line.Length is 0 or > 20)
        {
            throw Error($"{what} '{Printable(line)}' is not a 64-bit integer");
        }

        Span<byte> scratch = stackalloc byte[20];
        scoped ReadOnlySpan<byte> span;
        if (line.IsSingleSegment)
        {
            span = line.FirstSpan;
        }
        else
        {
            line.CopyTo(scratch);
            span = scratch[..(int)line.Length];
        }

        if (span[0] == (byte)'+' || !Utf8Parser.TryParse(span, out long value, out var consumed) || consumed != span.Length)
        {
            throw Error($"{what} '{Printable(line)}' is not a 64-bit integer");
        }

        return value;
    }

    private static void ExpectCrLf(ref SequenceReader<byte> reader)
    {
        if (!reader.TryRead(out var cr) || !reader.TryRead(out var lf) || cr != (byte)'\r' || lf != (byte)'\n')
        {
            throw Error("a bulk string is not followed by CRLF (its length does not match its data)");
        }
    }

    private static bool IsOk(in ReadOnlySequence<byte> line)
        => line.Length == 2 && line.FirstSpan.Length >= 2 && line.FirstSpan[0] == (byte)'O' && line.FirstSpan[1] == (byte)'K';

    private static string Describe(byte value)
        => value is >= 0x20 and < 0x7F ? $"0x{value:X2} ('{(char)value}')" : $"0x{value:X2}";

    private static string Printable(in ReadOnlySequence<byte> line)
    {
        var text = Encoding.UTF8.GetString(line.Length > 32 ? line.Slice(0, 32) : line);
        return string.Create(text.Length, text, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                span[i] = char.IsControl(source[i]) ? '?' : source[i];
            }
        });
    }

    private static RedisProtocolException Error(string detail)
        => new($"Invalid RESP2 from the server: {detail}.");
}
