using System.Buffers.Text;
using System.Text;
using System.Text.RegularExpressions;

namespace Gateway.Grpc.Guardrails.Detectors;

/// <summary>
/// Credentials: API keys of the major providers (OpenAI, Anthropic, Google, GitHub, Slack,
/// Stripe, this gateway's own virtual keys), AWS access key ids and secret keys, PEM private-key
/// blocks and JSON Web Tokens. Each pattern anchors on the issuer's fixed prefix and a minimum
/// length of random-looking characters, so words like "sk-learn" or "task-id" do not match.
/// </summary>
public sealed partial class SecretDetector : IGuardrailDetector
{
    public const string OpenAiKey = "secret.openai_key";
    public const string AnthropicKey = "secret.anthropic_key";
    public const string GoogleApiKey = "secret.google_api_key";
    public const string GitHubToken = "secret.github_token";
    public const string SlackToken = "secret.slack_token";
    public const string StripeKey = "secret.stripe_key";
    public const string GatewayKey = "secret.gateway_key";
    public const string AwsAccessKey = "secret.aws_access_key";
    public const string AwsSecretKey = "secret.aws_secret_key";
    public const string PrivateKey = "secret.private_key";
    public const string Jwt = "secret.jwt";

    private static readonly System.Buffers.SearchValues<string> KeyPrefixes = System.Buffers.SearchValues.Create(
        ["sk-", "AIza", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "sk_live_", "sk_test_", "rk_live_", "rk_test_", "gw-", "AKIA", "ASIA", "ABIA", "ACCA", "AROA", "AIDA"],
        StringComparison.Ordinal);

    private static readonly string[] AllRules = [OpenAiKey, AnthropicKey, GoogleApiKey, GitHubToken, SlackToken, StripeKey, GatewayKey, AwsAccessKey, AwsSecretKey, PrivateKey, Jwt];

    public IReadOnlyList<string> Rules => AllRules;

    public void Detect(string text, List<Finding> findings)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(findings);
        // The issuers' fixed prefixes, found with one vectorized multi-string search; the
        // expression then starts at the first one instead of at every 's', 'g' or 'A' of prose.
        var first = text.AsSpan().IndexOfAny(KeyPrefixes);
        for (var match = first < 0 ? Match.Empty : KeyRegex().Match(text, Math.Max(0, first - 1)); match.Success; match = match.NextMatch())
        {
            var rule = match.Groups["ant"].Success ? AnthropicKey
                : match.Groups["oai"].Success ? OpenAiKey
                : match.Groups["goog"].Success ? GoogleApiKey
                : match.Groups["gh"].Success ? GitHubToken
                : match.Groups["slack"].Success ? SlackToken
                : match.Groups["stripe"].Success ? StripeKey
                : match.Groups["gw"].Success ? GatewayKey
                : AwsAccessKey;
            if (rule == OpenAiKey && !HasDigitAndLetter(match.ValueSpan))
            {
                continue;
            }

            findings.Add(new Finding(rule, match.Index, match.Length));
        }

        if (text.Contains("ecret", StringComparison.OrdinalIgnoreCase))
        {
            foreach (Match match in AwsSecretRegex().Matches(text))
            {
                var value = match.Groups["value"];
                findings.Add(new Finding(AwsSecretKey, value.Index, value.Length));
            }
        }

        if (text.Contains("-----BEGIN", StringComparison.Ordinal))
        {
            foreach (var match in PrivateKeyRegex().EnumerateMatches(text))
            {
                findings.Add(new Finding(PrivateKey, match.Index, match.Length));
            }
        }

        if (text.Contains("eyJ", StringComparison.Ordinal))
        {
            foreach (var match in JwtRegex().EnumerateMatches(text))
            {
                if (IsJwtHeader(text.AsSpan(match.Index, match.Length)))
                {
                    findings.Add(new Finding(Jwt, match.Index, match.Length));
                }
            }
        }
    }

    private static bool HasDigitAndLetter(ReadOnlySpan<char> value)
    {
        var body = value[3..];
        return body.IndexOfAnyInRange('0', '9') >= 0 && (body.IndexOfAnyInRange('a', 'z') >= 0 || body.IndexOfAnyInRange('A', 'Z') >= 0);
    }

    /// <summary>The first segment must decode (base64url) to a JSON object naming an algorithm or type.</summary>
    private static bool IsJwtHeader(ReadOnlySpan<char> token)
    {
        var dot = token.IndexOf('.');
        var header = token[..dot];
        if (header.Length > 400)
        {
            return false;
        }

        Span<byte> utf8 = stackalloc byte[header.Length];
        for (var i = 0; i < header.Length; i++)
        {
            utf8[i] = (byte)header[i];
        }

        Span<byte> decoded = stackalloc byte[Base64Url.GetMaxDecodedLength(header.Length)];
        if (Base64Url.DecodeFromUtf8(utf8, decoded, out _, out var written) != System.Buffers.OperationStatus.Done)
        {
            return false;
        }

        var json = Encoding.UTF8.GetString(decoded[..written]);
        return json.StartsWith('{') && (json.Contains("\"alg\"", StringComparison.Ordinal) || json.Contains("\"typ\"", StringComparison.Ordinal));
    }

    [GeneratedRegex(
        @"(?<![\w-])(?:(?<ant>sk-ant-(?:api|admin|oat)\d{2}-[A-Za-z0-9_-]{32,})" +
        @"|(?<oai>sk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{32,})" +
        @"|(?<goog>AIza[0-9A-Za-z_-]{35})" +
        @"|(?<gh>(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{59,255}))" +
        @"|(?<slack>xox[abposr]-[A-Za-z0-9-]{10,250})" +
        @"|(?<stripe>(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,247})" +
        @"|(?<gw>gw-[A-Za-z0-9]{8}_[A-Za-z0-9_-]{40,})" +
        @"|(?<aws>(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[A-Z2-7]{16}))(?![\w-])",
        RegexOptions.CultureInvariant)]
    private static partial Regex KeyRegex();

    [GeneratedRegex(@"(?i:secret)[_\-. ]?(?i:access)?[_\-. ]?(?i:key)(?:[_\-. ]?(?i:id))?[""']?\s*[:=]\s*[""']?(?<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])", RegexOptions.CultureInvariant)]
    private static partial Regex AwsSecretRegex();

    // The whole block when its END line is there; otherwise from the BEGIN line to the end of the
    // text (a key cut short is still a key).
    [GeneratedRegex(@"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*\z)", RegexOptions.CultureInvariant)]
    private static partial Regex PrivateKeyRegex();

    [GeneratedRegex(@"(?<![\w-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}(?![\w-])", RegexOptions.CultureInvariant)]
    private static partial Regex JwtRegex();
}
