using System.Buffers;
using System.Buffers.Text;
using System.Collections.Frozen;
using System.Globalization;
using System.Text;

namespace Gateway.Grpc.Redis.Internal;

/// <summary>
/// Writes commands as RESP2 arrays of bulk strings (<c>*N\r\n$len\r\narg\r\n...</c>), the form every Redis
/// command accepts, straight into the connection's <see cref="IBufferWriter{T}"/>.
/// </summary>
internal static class RespWriter
{
    // Commands that cannot share a multiplexed connection: they change its mode (Pub/Sub, MONITOR, RESP3),
    // its state for every caller (SELECT, transactions), or block every caller behind them.
    private static readonly FrozenDictionary<string, string> Rejected = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["SUBSCRIBE"] = "use SubscribeAsync, which runs Pub/Sub on its own connection",
        ["PSUBSCRIBE"] = "use SubscribeAsync, which runs Pub/Sub on its own connection",
        ["SSUBSCRIBE"] = "use SubscribeAsync, which runs Pub/Sub on its own connection",
        ["UNSUBSCRIBE"] = "dispose the subscription returned by SubscribeAsync",
        ["PUNSUBSCRIBE"] = "dispose the subscription returned by SubscribeAsync",
        ["SUNSUBSCRIBE"] = "dispose the subscription returned by SubscribeAsync",
        ["MONITOR"] = "it turns the connection into a stream",
        ["MULTI"] = "transactions interleave with other callers on a multiplexed connection; use a Lua script (ScriptEvaluateAsync) for atomicity",
        ["EXEC"] = "transactions interleave with other callers on a multiplexed connection; use a Lua script (ScriptEvaluateAsync) for atomicity",
        ["DISCARD"] = "transactions interleave with other callers on a multiplexed connection; use a Lua script (ScriptEvaluateAsync) for atomicity",
        ["WATCH"] = "transactions interleave with other callers on a multiplexed connection; use a Lua script (ScriptEvaluateAsync) for atomicity",
        ["UNWATCH"] = "transactions interleave with other callers on a multiplexed connection; use a Lua script (ScriptEvaluateAsync) for atomicity",
        ["SELECT"] = "it would switch the database for every caller; set RedisOptions.Database",
        ["HELLO"] = "this client speaks RESP2 only",
        ["QUIT"] = "dispose the RedisConnection instead",
        ["RESET"] = "dispose the RedisConnection instead",
        ["BLPOP"] = "a blocking command stalls every caller on the multiplexed connection",
        ["BRPOP"] = "a blocking command stalls every caller on the multiplexed connection",
        ["BLMOVE"] = "a blocking command stalls every caller on the multiplexed connection",
        ["BRPOPLPUSH"] = "a blocking command stalls every caller on the multiplexed connection",
        ["BLMPOP"] = "a blocking command stalls every caller on the multiplexed connection",
        ["BZPOPMIN"] = "a blocking command stalls every caller on the multiplexed connection",
        ["BZPOPMAX"] = "a blocking command stalls every caller on the multiplexed connection",
        ["BZMPOP"] = "a blocking command stalls every caller on the multiplexed connection",
        ["WAIT"] = "a blocking command stalls every caller on the multiplexed connection",
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Checks a command before it is queued, so the write loop never meets an argument it cannot write.
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty, contains whitespace, is not allowed on a
    /// multiplexed connection, or an argument is null or of an unsupported type.</exception>
    public static void Validate(string command, object[] args)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(args);
        if (command.Length == 0)
        {
            throw new ArgumentException("The command name is empty.", nameof(command));
        }

        foreach (var c in command)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                throw new ArgumentException(
                    $"The command name '{command}' contains whitespace; pass the subcommand and arguments separately, e.g. ExecuteAsync(\"CLIENT\", \"GETNAME\").",
                    nameof(command));
            }
        }

        if (Rejected.TryGetValue(command, out var reason))
        {
            throw new ArgumentException($"{command.ToUpperInvariant()} is not supported on the multiplexed connection: {reason}.", nameof(command));
        }

        if (string.Equals(command, "CLIENT", StringComparison.OrdinalIgnoreCase) && args.Length > 0
            && args[0] is string sub && (sub.Equals("REPLY", StringComparison.OrdinalIgnoreCase) || sub.Equals("SETNAME", StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArgumentException(
                $"CLIENT {sub.ToUpperInvariant()} is not supported on the multiplexed connection: it would break reply matching or rename the shared connection (set RedisOptions.ClientName).",
                nameof(args));
        }

        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case null:
                    throw new ArgumentException($"Argument {i} of {command} is null; Redis has no null argument (pass \"\" or omit it).", nameof(args));
                case string or byte[] or ReadOnlyMemory<byte> or Memory<byte>
                    or int or long or short or sbyte or byte or ushort or uint or ulong or decimal:
                    break;
                case double d when double.IsNaN(d):
                case float f when float.IsNaN(f):
                    throw new ArgumentException($"Argument {i} of {command} is NaN, which Redis rejects.", nameof(args));
                case double or float:
                    break;
                default:
                    throw new ArgumentException(
                        $"Argument {i} of {command} has type {args[i].GetType().FullName}; pass a string, byte[], ReadOnlyMemory<byte> or a number.",
                        nameof(args));
            }
        }
    }

    /// <summary>Writes a validated command.</summary>
    public static void WriteCommand(IBufferWriter<byte> writer, string command, object[] args)
    {
        WriteHeader(writer, (byte)'*', args.Length + 1);
        WriteString(writer, command);
        foreach (var arg in args)
        {
            WriteArgument(writer, arg);
        }
    }

    /// <summary>Writes a command whose arguments are all strings (handshake, Pub/Sub).</summary>
    public static void WriteStrings(IBufferWriter<byte> writer, string command, IReadOnlyList<string> args)
    {
        WriteHeader(writer, (byte)'*', args.Count + 1);
        WriteString(writer, command);
        for (var i = 0; i < args.Count; i++)
        {
            WriteString(writer, args[i]);
        }
    }

    private static void WriteArgument(IBufferWriter<byte> writer, object arg)
    {
        switch (arg)
        {
            case string s:
                WriteString(writer, s);
                break;
            case byte[] bytes:
                WriteBulk(writer, bytes);
                break;
            case ReadOnlyMemory<byte> memory:
                WriteBulk(writer, memory.Span);
                break;
            case Memory<byte> memory:
                WriteBulk(writer, memory.Span);
                break;
            case double d when double.IsInfinity(d):
                WriteBulk(writer, d > 0 ? "+inf"u8 : "-inf"u8);
                break;
            case float f when float.IsInfinity(f):
                WriteBulk(writer, f > 0 ? "+inf"u8 : "-inf"u8);
                break;
            case IUtf8SpanFormattable formattable:
                Span<byte> scratch = stackalloc byte[64];
                if (!formattable.TryFormat(scratch, out var written, default, CultureInfo.InvariantCulture))
                {
                    throw new InvalidOperationException($"Could not format {arg} in 64 bytes.");
                }

                WriteBulk(writer, scratch[..written]);
                break;
            default:
                throw new InvalidOperationException($"Unvalidated argument type {arg.GetType()} reached the writer.");
        }
    }

    private static void WriteString(IBufferWriter<byte> writer, string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        WriteHeader(writer, (byte)'$', length);
        if (length > 0)
        {
            Encoding.UTF8.GetBytes(value.AsSpan(), writer);
        }

        WriteCrLf(writer);
    }

    private static void WriteBulk(IBufferWriter<byte> writer, ReadOnlySpan<byte> value)
    {
        WriteHeader(writer, (byte)'$', value.Length);
        writer.Write(value);
        WriteCrLf(writer);
    }

    private static void WriteHeader(IBufferWriter<byte> writer, byte marker, long count)
    {
        var span = writer.GetSpan(24);
        span[0] = marker;
        Utf8Formatter.TryFormat(count, span[1..], out var written);
        span[written + 1] = (byte)'\r';
        span[written + 2] = (byte)'\n';
        writer.Advance(written + 3);
    }

    private static void WriteCrLf(IBufferWriter<byte> writer)
    {
        var span = writer.GetSpan(2);
        span[0] = (byte)'\r';
        span[1] = (byte)'\n';
        writer.Advance(2);
    }
}
