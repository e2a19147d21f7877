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
        if (span.IndexOfAnyInRange('0', '9') >= 0)
        {
            foreach (var match in IbanRegex().EnumerateMatches(text))
            {
                if (Checksums.Iban(span.Slice(match.Index, match.Length)))
                {
                    findings.Add(new Finding(Iban, match.Index, match.Length));
                }
            }

            DetectNumbers(text, findings);
        }

        if (text.Contains(':', StringComparison.Ordinal))
        {
            DetectIpv6(text, findings);
        }
    }

    /// <summary>
    /// Cards, SSNs, IPv4 and phones are made of digits and a few separators, so the regular
    /// expressions only run on the regions of the text made of those characters (with a little
    /// context either side for their boundary checks): prose costs a scan, not five regex passes.
    /// </summary>
    private static void DetectNumbers(string text, List<Finding> findings)
    {
        var i = 0;
        while (i < text.Length)
        {
            var next = text.AsSpan(i).IndexOfAnyInRange('0', '9');
            if (next < 0)
            {
                return;
            }

            var start = i + next;
            while (start > 0 && text[start - 1] is '+' or '(')
            {
                start--;
            }

            var end = i + next;
            var digits = 0;
            while (end < text.Length && (IsDigit(text[end]) || (text[end] is ' ' or '-' or '.' or '/' or '(' or ')' or '+' && end + 1 < text.Length && (IsDigit(text[end + 1]) || text[end + 1] is '(' or ' ' or '+'))))
            {
                if (IsDigit(text[end]))
                {
                    digits++;
                }

                end++;
            }

            if (digits >= 4)
            {
                var from = Math.Max(0, start - 3);
                var to = Math.Min(text.Length, end + 3);
                ScanRegion(text.Substring(from, to - from), from, digits, findings);
            }

            i = Math.Max(end, i + next + 1);
        }
    }

    private static bool IsDigit(char c) => c is >= '0' and <= '9';

    private static void ScanRegion(string region, int offset, int digits, List<Finding> findings)
    {
        // Each kind needs a number of digits: cards 13+, SSNs 9, phones 8+, IPv4 4+ and dots.
        if (digits >= 8)
        {
            ScanLong(region, offset, digits, findings);
        }

        if (region.Contains('.', StringComparison.Ordinal))
        {
            foreach (var match in Ipv4Regex().EnumerateMatches(region))
            {
                findings.Add(new Finding(IpAddress, offset + match.Index, match.Length));
            }
        }
    }

    private static void ScanLong(string region, int offset, int digitCount, List<Finding> findings)
    {
        var span = region.AsSpan();
        foreach (var match in (digitCount >= 13 ? CardRegex() : NeverRegex()).EnumerateMatches(region))
        {
            var candidate = span.Slice(match.Index, match.Length);
            if (IsCard(candidate))
            {
                findings.Add(new Finding(CreditCard, offset + match.Index, match.Length));
            }
        }

        foreach (var match in SsnRegex().EnumerateMatches(region))
        {
            if (IsSsn(span.Slice(match.Index, match.Length)))
            {
                findings.Add(new Finding(Ssn, offset + match.Index, match.Length));
            }
        }

        foreach (var match in PhoneRegex().EnumerateMatches(region))
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
                findings.Add(new Finding(Phone, offset + match.Index, match.Length));
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

    /// <summary>Runs of hex digits and colons with at least two colons, checked by <see cref="LooksLikeIpv6"/>.</summary>
    private static void DetectIpv6(string text, List<Finding> findings)
    {
        var i = 0;
        while (i < text.Length)
        {
            var colon = text.IndexOf(':', i);
            if (colon < 0)
            {
                return;
            }

            var start = colon;
            while (start > 0 && (char.IsAsciiHexDigit(text[start - 1]) || text[start - 1] == ':'))
            {
                start--;
            }

            var end = colon;
            var colons = 0;
            while (end < text.Length && (char.IsAsciiHexDigit(text[end]) || text[end] == ':'))
            {
                colons += text[end] == ':' ? 1 : 0;
                end++;
            }

            i = end + 1;
            if (colons < 2
                || (start > 0 && (char.IsAsciiLetterOrDigit(text[start - 1]) || text[start - 1] is '_' or '.'))
                || (end < text.Length && (char.IsAsciiLetterOrDigit(text[end]) || text[end] == '_')))
            {
                continue;
            }

            if (LooksLikeIpv6(text.AsSpan(start, end - start)))
            {
                findings.Add(new Finding(IpAddress, start, end - start));
            }
        }
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

    // E.164 (+ and 8 to 15 digits, human grouping allowed), North American (xxx) xxx-xxxx /
    // xxx-xxx-xxxx / xxx.xxx.xxxx, and European national layouts that start with a trunk 0
    // and use grouping (UK 020 7946 0958, FR 06 12 34 56 78, DE 030 12345678, 089/1234567).
    [GeneratedRegex(@"(?<![\w+.-]|\d[ .-])(?:\+[1-9]\d{0,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}|\(\d{3}\) ?\d{3}[-. ]\d{4}|\d{3}([-.])\d{3}\1\d{4}|\d{3} \d{3} \d{4}|0[1-9](?:[ .]\d{2}){4}|0\d{2,4}[ /]\d{3,4}[ ]?\d{3,4})(?![\w]|[ .-]\d)", RegexOptions.CultureInvariant)]
    private static partial Regex PhoneRegex();

    [GeneratedRegex("(?!)")]
    private static partial Regex NeverRegex();
}
