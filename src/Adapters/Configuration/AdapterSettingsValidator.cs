using System.Globalization;
using Gateway.Grpc.Adapters.Secrets;

namespace Gateway.Grpc.Adapters.Configuration;

/// <summary>
/// Checks a deployment's provider settings at start-up. Each error names the setting and the
/// fix, e.g. "settings.api_key: a literal value is not allowed here; write a secret reference:
/// env:NAME or file:/path". The host prefixes the deployment's path.
/// </summary>
public static class AdapterSettingsValidator
{
    /// <summary>Header names that carry credentials or framing; they cannot be set through headers.*.</summary>
    private static readonly HashSet<string> ReservedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "authorization", "api-key", "x-api-key", "x-goog-api-key", "host", "content-length", "content-type", "transfer-encoding", "connection", "te",
    };

    /// <summary>Validates syntax and that secret references resolve now (a missing secret is reported at start-up, not on the first call).</summary>
    public static IReadOnlyList<string> Validate(string provider, IReadOnlyDictionary<string, string> settings, ISecretResolver? secrets = null)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(settings);
        var errors = new List<string>();
        if (!SettingsSchema.TryGet(provider, out var specs))
        {
            errors.Add($"provider: '{provider}' is not a known provider; use one of: {string.Join(", ", ProviderNames.All)}.");
            return errors;
        }

        var known = new Dictionary<string, SettingSpec>(StringComparer.OrdinalIgnoreCase);
        foreach (var spec in specs)
        {
            known[spec.Name] = spec;
        }

        foreach (var (key, value) in settings)
        {
            if (key.StartsWith(SettingsSchema.HeaderPrefix, StringComparison.OrdinalIgnoreCase) && SettingsSchema.AcceptsHeaders(provider))
            {
                ValidateHeader(key, value, secrets, errors);
                continue;
            }

            if (!known.TryGetValue(key, out var spec))
            {
                errors.Add($"settings.{key}: unknown setting for provider '{provider}'; known settings: {string.Join(", ", specs.Select(s => s.Name))}" + (SettingsSchema.AcceptsHeaders(provider) ? ", headers.<name>." : "."));
                continue;
            }

            var error = ValidateValue(spec, value, secrets);
            if (error is not null)
            {
                errors.Add($"settings.{spec.Name}: {error}");
            }
        }

        foreach (var spec in specs)
        {
            if (spec.Required && !settings.Keys.Any(k => string.Equals(k, spec.Name, StringComparison.OrdinalIgnoreCase)))
            {
                errors.Add($"settings.{spec.Name}: required for provider '{provider}' ({spec.Description})" + (spec.Kind == SettingKind.Secret ? " Write env:NAME or file:/path." : ""));
            }
        }

        return errors;
    }

    private static void ValidateHeader(string key, string value, ISecretResolver? secrets, List<string> errors)
    {
        var name = key[SettingsSchema.HeaderPrefix.Length..];
        if (name.Length == 0 || !IsToken(name))
        {
            errors.Add($"settings.{key}: '{name}' is not a valid HTTP header name.");
            return;
        }

        if (ReservedHeaders.Contains(name))
        {
            errors.Add($"settings.{key}: the {name} header is set by the adapter; use settings.api_key for credentials.");
            return;
        }

        if (SecretReference.IsReference(value))
        {
            var error = SecretError(value, secrets);
            if (error is not null)
            {
                errors.Add($"settings.{key}: {error}");
            }
        }
        else if (value.Any(c => c is '\r' or '\n' or '\0'))
        {
            errors.Add($"settings.{key}: header values cannot contain line breaks.");
        }
    }

    private static string? ValidateValue(SettingSpec spec, string value, ISecretResolver? secrets)
    {
        switch (spec.Kind)
        {
            case SettingKind.Url:
                if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                {
                    return $"'{value}' is not an absolute http:// or https:// URL.";
                }

                if (!string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
                {
                    return $"'{value}' must not have a query or fragment.";
                }

                return uri.UserInfo.Length > 0 ? "credentials in the URL are not allowed; use settings.api_key." : null;
            case SettingKind.Secret:
                return SecretError(value, secrets);
            case SettingKind.PositiveInt:
                return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? null : $"'{value}' is not a whole number greater than 0.";
            case SettingKind.Bool:
                return bool.TryParse(value, out _) ? null : $"'{value}' is not true or false.";
            case SettingKind.Choice:
                return spec.Choices.Contains(value, StringComparer.Ordinal) ? null : $"'{value}' is not one of: {string.Join(", ", spec.Choices)}.";
            default:
                return string.IsNullOrWhiteSpace(value) ? "must not be empty." : null;
        }
    }

    private static string? SecretError(string value, ISecretResolver? secrets)
    {
        var syntax = SecretReference.SyntaxError(value);
        if (syntax is not null)
        {
            return syntax + ".";
        }

        if (secrets is null)
        {
            return null;
        }

        try
        {
            secrets.Resolve(value);
            return null;
        }
        catch (SecretResolutionException ex)
        {
            return ex.Message;
        }
    }

    private static bool IsToken(string name)
    {
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }

        return true;
    }
}
