using System.Net.Http.Headers;

namespace Gateway.Grpc.Protocol.Internal;

/// <summary>Metadata to and from HTTP headers: '-bin' values are base64 (sent unpadded, read either way).</summary>
internal static class MetadataCodec
{
    public static string EncodeBinary(byte[] value) => Convert.ToBase64String(value).TrimEnd('=');

    public static byte[] DecodeBinary(string value)
    {
        var trimmed = value.Trim();
        if (trimmed.Length % 4 != 0)
        {
            trimmed += new string('=', 4 - (trimmed.Length % 4));
        }

        try
        {
            return Convert.FromBase64String(trimmed);
        }
        catch (FormatException)
        {
            return [];
        }
    }

    /// <summary>Adds one header's values as metadata entries (split on ',' for binary keys).</summary>
    public static void AddHeader(Metadata metadata, string name, IEnumerable<string> values)
    {
        if (GrpcProtocolConstants.IsReservedHeader(name))
        {
            return;
        }

        var key = name.ToLowerInvariant();
        var binary = Metadata.IsBinaryKey(key);
        foreach (var value in values)
        {
            if (binary)
            {
                foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    metadata.Add(key, DecodeBinary(part));
                }
            }
            else
            {
                try
                {
                    metadata.Add(key, value);
                }
                catch (ArgumentException)
                {
                    // A peer sent a header that is not valid metadata: skip rather than fail the call.
                }
            }
        }
    }

    public static void AddHeaders(Metadata metadata, HttpHeaders headers)
    {
        foreach (var header in headers)
        {
            AddHeader(metadata, header.Key, header.Value);
        }
    }
}
