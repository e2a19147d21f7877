using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Client;

namespace Gateway.Grpc.Client;

/// <summary>Helpers that shape <see cref="CallOptions"/> for gateway calls.</summary>
public static class CallOptionsExtensions
{
    /// <summary>The metadata key the gateway reads the API key from.</summary>
    public const string AuthorizationKey = "authorization";

    /// <summary>
    /// Returns options whose metadata carries <c>authorization: Bearer &lt;apiKey&gt;</c>, replacing
    /// any authorization entry. The caller's <see cref="Metadata"/> is copied, never changed.
    /// </summary>
    public static CallOptions WithApiKey(this CallOptions options, string apiKey)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(apiKey);
        var headers = CopyWithout(options.Headers, AuthorizationKey);
        headers.Add(AuthorizationKey, BearerValue(apiKey));
        return options with { Headers = headers };
    }

    /// <summary>Applies client-wide settings (API key, default deadline) to one call's options.</summary>
    internal static CallOptions Apply(this CallOptions options, GatewayClientOptions settings)
    {
        if (settings.ApiKey is { Length: > 0 } apiKey && options.Headers?.Get(AuthorizationKey) is null)
        {
            var headers = CopyWithout(options.Headers, AuthorizationKey);
            headers.Add(AuthorizationKey, BearerValue(apiKey));
            options = options with { Headers = headers };
        }

        if (options.Deadline is null && settings.DefaultTimeout is { } timeout)
        {
            options = options.WithTimeout(timeout);
        }

        return options;
    }

    private static string BearerValue(string apiKey) => "Bearer " + apiKey.Trim();

    private static Metadata CopyWithout(Metadata? source, string key)
    {
        var copy = new Metadata();
        if (source is null)
        {
            return copy;
        }

        foreach (var entry in source)
        {
            if (!string.Equals(entry.Key, key, StringComparison.Ordinal))
            {
                copy.Add(entry);
            }
        }

        return copy;
    }
}
