using System.Security.Cryptography;
using System.Text;

namespace Gateway.Grpc.Governance.Keys;

/// <summary>
/// Virtual key format: <c>gw-XXXXXXXX_SECRET</c>. The part before '_' is the lookup prefix
/// (shown in listings); SECRET is 32 random bytes, base64url. Only the SHA-256 of the whole key
/// is stored: keys are high-entropy, so a fast hash is safe, and lookups stay cheap.
/// </summary>
public static class ApiKeys
{
    public const string Scheme = "gw-";
    private const string PrefixAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    public static (string Key, string Prefix, string Hash) Generate()
    {
        Span<char> id = stackalloc char[8];
        for (var i = 0; i < id.Length; i++)
        {
            id[i] = PrefixAlphabet[RandomNumberGenerator.GetInt32(PrefixAlphabet.Length)];
        }

        var prefix = Scheme + new string(id);
        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var key = prefix + "_" + secret;
        return (key, prefix, Hash(key));
    }

    /// <summary>The lookup prefix of a presented key, or null when it is not in our format.</summary>
    public static string? PrefixOf(string key)
    {
        if (!key.StartsWith(Scheme, StringComparison.Ordinal))
        {
            return null;
        }

        var underscore = key.IndexOf('_', StringComparison.Ordinal);
        return underscore == Scheme.Length + 8 ? key[..underscore] : null;
    }

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>Constant-time comparison of two hex hashes.</summary>
    public static bool HashEquals(string a, string b)
        => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(a), Encoding.ASCII.GetBytes(b));
}
