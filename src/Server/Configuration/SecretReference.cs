namespace Gateway.Grpc.Server.Configuration;

/// <summary>
/// Secrets come from references, never literals: <c>env:NAME</c> or <c>file:/path</c>. They are
/// resolved on every use, so changing the environment or the file takes effect without a restart.
/// </summary>
internal static class SecretReference
{
    public static bool IsReference(string? value)
        => value is not null && (value.StartsWith("env:", StringComparison.Ordinal) || value.StartsWith("file:", StringComparison.Ordinal));

    public static string? Resolve(string? reference)
    {
        if (string.IsNullOrEmpty(reference))
        {
            return null;
        }

        if (reference.StartsWith("env:", StringComparison.Ordinal))
        {
            return Environment.GetEnvironmentVariable(reference[4..]) is { Length: > 0 } value ? value : null;
        }

        if (reference.StartsWith("file:", StringComparison.Ordinal))
        {
            var path = reference[5..];
            return File.Exists(path) ? File.ReadAllText(path).TrimEnd('\r', '\n') : null;
        }

        throw new InvalidOperationException("A secret must be a reference (env:NAME or file:/path), not a literal.");
    }
}
