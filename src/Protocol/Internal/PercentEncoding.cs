using System.Buffers;
using System.Text;

namespace Gateway.Grpc.Protocol.Internal;

/// <summary>
/// PROTOCOL-HTTP2 "grpc-message": the status message is UTF-8, then every byte outside
/// 0x20-0x7E, and '%' itself, is written as %XX. Decoding never fails: an invalid escape is
/// passed through as it is.
/// </summary>
internal static class PercentEncoding
{
    private const string HexUpper = "0123456789ABCDEF";

    public static string Encode(string value)
    {
        var needs = false;
        foreach (var c in value)
        {
            if (c is < (char)0x20 or > (char)0x7E or '%')
            {
                needs = true;
                break;
            }
        }

        if (!needs)
        {
            return value;
        }

        var bytes = Encoding.UTF8.GetBytes(value);
        var sb = new StringBuilder(bytes.Length * 3);
        foreach (var b in bytes)
        {
            if (b is < 0x20 or > 0x7E or (byte)'%')
            {
                sb.Append('%').Append(HexUpper[b >> 4]).Append(HexUpper[b & 0xF]);
            }
            else
            {
                sb.Append((char)b);
            }
        }

        return sb.ToString();
    }

    public static string Decode(string value)
    {
        if (!value.Contains('%', StringComparison.Ordinal))
        {
            return value;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(value.Length);
        try
        {
            var n = 0;
            for (var i = 0; i < value.Length; i++)
            {
                var c = value[i];
                if (c == '%' && i + 2 < value.Length && TryHex(value[i + 1], out var hi) && TryHex(value[i + 2], out var lo))
                {
                    buffer[n++] = (byte)((hi << 4) | lo);
                    i += 2;
                }
                else if (c <= 0x7F)
                {
                    buffer[n++] = (byte)c;
                }
                else
                {
                    // Not valid on the wire; keep it rather than fail.
                    return value;
                }
            }

            return Encoding.UTF8.GetString(buffer, 0, n);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static bool TryHex(char c, out int value)
    {
        value = c switch
        {
            >= '0' and <= '9' => c - '0',
            >= 'a' and <= 'f' => c - 'a' + 10,
            >= 'A' and <= 'F' => c - 'A' + 10,
            _ => -1,
        };
        return value >= 0;
    }
}
