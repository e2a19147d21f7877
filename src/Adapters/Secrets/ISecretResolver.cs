namespace Gateway.Grpc.Adapters.Secrets;

/// <summary>
/// Resolves secret references from configuration: <c>env:NAME</c> (an environment variable) or
/// <c>file:/path</c> (a file's content, trailing newline trimmed, e.g. a mounted Kubernetes
/// secret). References are resolved at call time, so rotating a secret takes effect without a
/// restart. Values are never logged and never appear in exception messages.
/// </summary>
public interface ISecretResolver
{
    /// <summary>
    /// The secret's current value. Throws <see cref="SecretResolutionException"/> when the
    /// reference is malformed, the variable is unset or empty, or the file is missing or unreadable.
    /// </summary>
    string Resolve(string reference);
}

/// <summary>A secret reference could not be resolved; the message names the reference, never a value.</summary>
public sealed class SecretResolutionException : Exception
{
    public SecretResolutionException(string message)
        : base(message)
    {
    }

    public SecretResolutionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public SecretResolutionException()
        : this("The secret could not be resolved.")
    {
    }
}

/// <summary>Syntax of secret references.</summary>
public static class SecretReference
{
    public const string EnvPrefix = "env:";
    public const string FilePrefix = "file:";

    /// <summary>True when <paramref name="value"/> is written as a reference (env: or file:).</summary>
    public static bool IsReference(string? value)
        => value is not null && (value.StartsWith(EnvPrefix, StringComparison.Ordinal) || value.StartsWith(FilePrefix, StringComparison.Ordinal));

    /// <summary>Null when the reference is well formed, otherwise what is wrong with it.</summary>
    public static string? SyntaxError(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.StartsWith(EnvPrefix, StringComparison.Ordinal))
        {
            var name = value[EnvPrefix.Length..];
            if (name.Length == 0)
            {
                return "'env:' needs a variable name, e.g. env:OPENAI_API_KEY";
            }

            foreach (var c in name)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c == '_'))
                {
                    return $"'{value}' is not a valid environment variable name (letters, digits and '_' only)";
                }
            }

            return null;
        }

        if (value.StartsWith(FilePrefix, StringComparison.Ordinal))
        {
            var path = value[FilePrefix.Length..];
            return path.Length == 0 || !Path.IsPathFullyQualified(path)
                ? $"'{value}' must name an absolute path, e.g. file:/run/secrets/openai_api_key"
                : null;
        }

        return "a literal value is not allowed here; write a secret reference: env:NAME or file:/path";
    }
}
