using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Gateway.Grpc.Redis.Internal;

/// <summary>Parses <c>host:port</c>, <c>[v6]:port</c> and bare <c>host</c> (port 6379).</summary>
internal static class EndpointParser
{
    public const int DefaultPort = 6379;

    public static bool TryParse(string? endpoint, [NotNullWhen(true)] out string? host, out int port, [NotNullWhen(false)] out string? error)
    {
        host = null;
        port = DefaultPort;
        error = null;
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            error = "is empty; use host:port such as 127.0.0.1:6379.";
            return false;
        }

        string hostPart;
        string? portPart = null;
        if (endpoint.StartsWith('['))
        {
            var close = endpoint.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                error = $"'{endpoint}' has '[' without ']'; use [::1]:6379.";
                return false;
            }

            hostPart = endpoint[1..close];
            var rest = endpoint[(close + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':')
                {
                    error = $"'{endpoint}' has text after ']' that is not ':port'.";
                    return false;
                }

                portPart = rest[1..];
            }
        }
        else
        {
            var colon = endpoint.LastIndexOf(':');
            if (colon >= 0 && endpoint.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                error = $"'{endpoint}' looks like a bare IPv6 address; write it as [address]:port.";
                return false;
            }

            hostPart = colon < 0 ? endpoint : endpoint[..colon];
            portPart = colon < 0 ? null : endpoint[(colon + 1)..];
        }

        if (hostPart.Length == 0 || hostPart.Any(char.IsWhiteSpace))
        {
            error = $"'{endpoint}' has no valid host.";
            return false;
        }

        if (portPart is not null && (!int.TryParse(portPart, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            error = $"'{endpoint}' has port '{portPart}'; it must be 1..65535.";
            return false;
        }

        host = hostPart;
        return true;
    }
}
