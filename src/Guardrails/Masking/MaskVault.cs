using System.Text;
using System.Text.RegularExpressions;

namespace Gateway.Grpc.Guardrails.Masking;

/// <summary>
/// One call's masked values. A value becomes a placeholder such as <c>[EMAIL_1]</c> (the same
/// value always gets the same placeholder, so the model can still tell two addresses apart and
/// refer back to one); <see cref="Restore"/> puts the real values back into the answer. Only
/// placeholders this vault issued are restored, so a literal "[EMAIL_1]" the model invents for
/// another call stays as it is. Lives for one call, in memory, never logged.
/// </summary>
public sealed partial class MaskVault
{
    private readonly Dictionary<string, string> _byValue = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _byPlaceholder = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _counters = new(StringComparer.Ordinal);

    public int Count => _byPlaceholder.Count;

    /// <summary>Longest placeholder issued (the stream guard keeps at least this much back).</summary>
    public int LongestPlaceholder { get; private set; }

    public string Mask(string rule, string value)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(value);
        if (_byValue.TryGetValue(value, out var existing))
        {
            return existing;
        }

        var label = Label(rule);
        _counters.TryGetValue(label, out var n);
        n++;
        _counters[label] = n;
        var placeholder = "[" + label + "_" + n.ToString(System.Globalization.CultureInfo.InvariantCulture) + "]";
        _byValue[value] = placeholder;
        _byPlaceholder[placeholder] = value;
        LongestPlaceholder = Math.Max(LongestPlaceholder, placeholder.Length);
        return placeholder;
    }

    /// <summary>The text with every placeholder of this vault replaced by its value.</summary>
    public string Restore(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (_byPlaceholder.Count == 0 || !text.Contains('[', StringComparison.Ordinal))
        {
            return text;
        }

        StringBuilder? builder = null;
        var last = 0;
        foreach (var match in PlaceholderRegex().EnumerateMatches(text))
        {
            var placeholder = text.Substring(match.Index, match.Length);
            if (_byPlaceholder.TryGetValue(placeholder, out var value))
            {
                builder ??= new StringBuilder(text.Length + 32);
                builder.Append(text, last, match.Index - last).Append(value);
                last = match.Index + match.Length;
            }
        }

        if (builder is null)
        {
            return text;
        }

        builder.Append(text, last, text.Length - last);
        return builder.ToString();
    }

    /// <summary><c>pii.email</c> → <c>EMAIL</c>, <c>secret.openai_key</c> → <c>OPENAI_KEY</c>.</summary>
    public static string Label(string rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var dot = rule.LastIndexOf('.');
        return (dot < 0 ? rule : rule[(dot + 1)..]).ToUpperInvariant();
    }

    [GeneratedRegex(@"\[[A-Z][A-Z0-9_]*_\d{1,6}\]", RegexOptions.CultureInvariant)]
    private static partial Regex PlaceholderRegex();
}
