namespace Gateway.Grpc.Redis.Internal;

/// <summary>Resolves <c>env:NAME</c> and <c>file:/path</c> secret references. The value is never logged.</summary>
internal static class SecretResolver
{
    public static bool IsReference(string value)
        => (value.StartsWith("env:", StringComparison.Ordinal) && value.Length > 4)
           || (value.StartsWith("file:", StringComparison.Ordinal) && value.Length > 5);

    /// <exception cref="RedisConnectionException">The variable is unset/empty or the file cannot be read.</exception>
    public static async ValueTask<string> ResolveAsync(string reference, string setting, CancellationToken cancellationToken)
    {
        if (reference.StartsWith("env:", StringComparison.Ordinal))
        {
            var name = reference[4..];
            var value = Environment.GetEnvironmentVariable(name);
            return string.IsNullOrEmpty(value)
                ? throw new RedisConnectionException($"{setting} refers to environment variable {name}, which is not set or empty.")
                : value;
        }

        if (reference.StartsWith("file:", StringComparison.Ordinal))
        {
            var path = reference[5..];
            string text;
            try
            {
                text = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new RedisConnectionException($"{setting} refers to file {path}, which cannot be read: {ex.Message}", ex);
            }

            text = text.TrimEnd('\r', '\n');
            return text.Length == 0 ? throw new RedisConnectionException($"{setting} refers to file {path}, which is empty.") : text;
        }

        throw new RedisConnectionException($"{setting} must be a secret reference, 'env:NAME' or 'file:/path'.");
    }
}
