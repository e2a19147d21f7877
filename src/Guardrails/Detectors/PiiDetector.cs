using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Gateway.Grpc.Guardrails.Detectors;

/// <summary>
/// Personal data: e-mail addresses, phone numbers (E.164 and common national layouts), payment
/// card numbers (brand prefix, length and Luhn), IBANs (country length and mod 97), US social
/// security numbers (SSA structure rules) and IPv4/IPv6 addresses. Number-shaped rules insist on
/// a check digit or a human layout (separators), so order numbers and ids are not personal data.
/// </summary>
public sealed partial class PiiDetector : IGuardrailDetector
{
    public const string Email = "pii.email";
    public const string Phone = "pii.phone";
    public const string CreditCard = "pii.credit_card";
    public const string Iban = "pii.iban";
    public const string Ssn = "pii.ssn";
    public const string IpAddress = "pii.ip_address";

    private static readonly string[] AllRules = [Email, Phone, CreditCard, Iban, Ssn, IpAddress];

    public IReadOnlyList<string> Rules => AllRules;

    public void Detect(string text, List<Finding> findings)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(findings);
        if (text.Contains('@', StringComparison.Ordinal))
        {
            foreach (var match in EmailRegex().EnumerateMatches(text))
            {
                findings.Add(new Finding(Email, match.Index, match.Length));
            }
        }

        var span = text.AsSpan();
        var hasDigit = span.IndexOfAnyInRange('0', '9') >= 0;
        if (hasDigit)
        {
            DetectNumbers(text, findings);
        }

        if (text.Contains(':', StringComparison.Ordinal))
        {
            foreach (var match in Ipv6Regex().EnumerateMatches(text))
            {
                var candidate = span.Slice(match.Index, match.Length);
                if (LooksLikeIpv6(candidate))
                {
                    findings.Add(new Finding(IpAddress, match.Index, match.Length));
                }
            }
        }
    }

    private static void DetectNumbers(string text, List<Finding> findings)
    {
        var span = text.AsSpan();
        foreach (var match in CardRegex().EnumerateMatches(text))
        {
            var candidate = span.Slice(match.Index, match.Length);
            if (IsCard(candidate))
            {
                findings.Add(new Finding(CreditCard, match.Index, match.Length));
            }
        }

        foreach (var match in IbanRegex().EnumerateMatches(text))
        {
            if (Checksums.Iban(span.Slice(match.Index, match.Length)))
            {
                findings.Add(new Finding(Iban, match.Index, match.Length));
            }
        }

        foreach (var match in SsnRegex().EnumerateMatches(text))
        {
            if (IsSsn(span.Slice(match.Index, match.Length)))
            {
                findings.Add(new Finding(Ssn, match.Index, match.Length));
            }
        }

        if (text.Contains('.', StringComparison.Ordinal))
        {
            foreach (var match in Ipv4Regex().EnumerateMatches(text))
            {
                findings.Add(new Finding(IpAddress, match.Index, match.Length));
            }
        }

        foreach (var match in PhoneRegex().EnumerateMatches(text))
        {
            var candidate = span.Slice(match.Index, match.Length);
            var digits = 0;
            foreach (var c in candidate)
            {
                if (c is >= '0' and <= '9')
                {
                    digits++;
                }
            }

            if (digits is >= 8 and <= 15)
            {
                findings.Add(new Finding(Phone, match.Index, match.Length));
            }
        }
    }

    /// <summary>Issuer prefix and length of a known brand, then Luhn.</summary>
    internal static bool IsCard(ReadOnlySpan<char> candidate)
    {
        Span<char> digits = stackalloc char[19];
        var n = 0;
        foreach (var c in candidate)
        {
            if (c is >= '0' and <= '9')
            {
                if (n == digits.Length)
                {
                    return false;
                }

                digits[n++] = c;
            }
        }

        if (n < 13)
        {
            return false;
        }

        var number = digits[..n];
        var two = ((number[0] - '0') * 10) + (number[1] - '0');
        var four = (two * 100) + ((number[2] - '0') * 10) + (number[3] - '0');
        var brand = number[0] switch
        {
            '4' => n is 13 or 16 or 19,                                             // Visa
            '5' => two is >= 51 and <= 55 && n == 16,                               // Mastercard
            '2' => four is >= 2221 and <= 2720 && n == 16,                          // Mastercard 2-series
            '3' => (two is 34 or 37 && n == 15)                                     // Amex
                || (two == 35 && four is >= 3528 and <= 3589 && n is >= 16 and <= 19) // JCB
                || (two is 36 or 38 or 39 or 30 && n is >= 14 and <= 19),           // Diners
            '6' => (four == 6011 || two == 65 || four is >= 6440 and <= 6499) && n is >= 16 and <= 19, // Discover
            _ => false,
        };
        return brand && Checksums.Luhn(number, out _);
    }

    /// <summary>SSA rules: area not 000, 666 or 9xx; group not 00; serial not 0000.</summary>
    internal static bool IsSsn(ReadOnlySpan<char> candidate)
    {
        Span<int> d = stackalloc int[9];
        var n = 0;
        foreach (var c in candidate)
        {
            if (c is >= '0' and <= '9')
            {
                d[n++] = c - '0';
            }
        }

        var area = (d[0] * 100) + (d[1] * 10) + d[2];
        var group = (d[3] * 10) + d[4];
        var serial = (d[5] * 1000) + (d[6] * 100) + (d[7] * 10) + d[8];
        return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
    }

    private static bool LooksLikeIpv6(ReadOnlySpan<char> candidate)
    {
        // "a::b" or "std::map" read as addresses to a parser; real ones have at least three groups
        // or one group of three or more hex digits beside a "::".
        var groups = 0;
        var longest = 0;
        var run = 0;
        foreach (var c in candidate)
        {
            if (c == ':')
            {
                if (run > 0)
                {
                    groups++;
                }

                run = 0;
            }
            else
            {
                run++;
                longest = Math.Max(longest, run);
            }
        }

        if (run > 0)
        {
            groups++;
        }

        if (groups < 2 || (groups < 3 && longest < 3))
        {
            return false;
        }

        return IPAddress.TryParse(candidate, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6;
    }

    [GeneratedRegex(@"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])", RegexOptions.CultureInvariant)]
    private static partial Regex EmailRegex();

    // 13 to 19 digits, optionally grouped by single spaces or dashes (4-4-4-4, 4-6-5...).
    [GeneratedRegex(@"(?<![\w.,/-])\d(?:[ -]?\d){12,18}(?![\w/]|[.,-]\d)", RegexOptions.CultureInvariant)]
    private static partial Regex CardRegex();

    [GeneratedRegex(@"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?!\w)", RegexOptions.CultureInvariant)]
    private static partial Regex IbanRegex();

    [GeneratedRegex(@"(?<![\w.-])\d{3}([- ])\d{2}\1\d{4}(?![\w]|[.-]\d)", RegexOptions.CultureInvariant)]
    private static partial Regex SsnRegex();

    [GeneratedRegex(@"(?<![\w.])(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(?![\w]|\.\d)", RegexOptions.CultureInvariant)]
    private static partial Regex Ipv4Regex();

    [GeneratedRegex(@"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:|:){2,7}(?:[0-9A-Fa-f]{1,4}|:)(?![\w:])", RegexOptions.CultureInvariant)]
    private static partial Regex Ipv6Regex();

    // E.164 (+ and 8 to 15 digits, human grouping allowed), North American (xxx) xxx-xxxx /
    // xxx-xxx-xxxx / xxx.xxx.xxxx, and European national layouts that start with a trunk 0
    // and use grouping (UK 020 7946 0958, FR 06 12 34 56 78, DE 030 12345678, 089/1234567).
    [GeneratedRegex(@"(?<![\w+.-]|\d[ .-])(?:\+[1-9]\d{0,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}|\(\d{3}\) ?\d{3}[-. ]\d{4}|\d{3}([-.])\d{3}\1\d{4}|\d{3} \d{3} \d{4}|0[1-9](?:[ .]\d{2}){4}|0\d{2,4}[ /]\d{3,4}[ ]?\d{3,4})(?![\w]|[ .-]\d)", RegexOptions.CultureInvariant)]
    private static partial Regex PhoneRegex();
}
