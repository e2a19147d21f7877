using System.Collections.Concurrent;
using System.Text;

namespace Gateway.Grpc.Adapters.Secrets;

/// <summary>
/// The default <see cref="ISecretResolver"/>. <c>env:</c> is read on every call (a process
/// environment lookup is cheap). <c>file:</c> is cached, and the cache is revalidated once
/// <see cref="FileCheckInterval"/> has passed: when the file's last-write time or length
/// changed it is read again, so a rotated secret is picked up within that interval.
/// </summary>
public sealed class SecretResolver(TimeProvider timeProvider) : ISecretResolver
{
    /// <summary>Largest secret file accepted; anything bigger is surely not a key.</summary>
    public const int MaxFileSize = 64 * 1024;

    private readonly ConcurrentDictionary<string, FileEntry> _files = new(StringComparer.Ordinal);

    public SecretResolver()
        : this(TimeProvider.System)
    {
    }

    /// <summary>How long a file's cached content is trusted before its metadata is checked again.</summary>
    public TimeSpan FileCheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    public string Resolve(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var syntax = SecretReference.SyntaxError(reference);
        if (syntax is not null)
        {
            throw new SecretResolutionException("Invalid secret reference: " + syntax + ".");
        }

        if (reference.StartsWith(SecretReference.EnvPrefix, StringComparison.Ordinal))
        {
            var name = reference[SecretReference.EnvPrefix.Length..];
            var value = Environment.GetEnvironmentVariable(name);
            if (string.IsNullOrEmpty(value))
            {
                throw new SecretResolutionException($"secret {reference} is not set (the environment variable {name} is missing or empty).");
            }

            return value;
        }

        return ResolveFile(reference, reference[SecretReference.FilePrefix.Length..]);
    }

    private string ResolveFile(string reference, string path)
    {
        var now = timeProvider.GetTimestamp();
        if (_files.TryGetValue(path, out var cached) && timeProvider.GetElapsedTime(cached.CheckedAt, now) < FileCheckInterval)
        {
            return cached.Value;
        }

        FileInfo info;
        try
        {
            info = new FileInfo(path);
            if (!info.Exists)
            {
                _files.TryRemove(path, out _);
                throw new SecretResolutionException($"secret {reference} is not set (the file does not exist).");
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.SecurityException)
        {
            throw new SecretResolutionException($"secret {reference} could not be read: {ex.GetType().Name}.", ex);
        }

        if (cached is not null && cached.LastWrite == info.LastWriteTimeUtc && cached.Length == info.Length)
        {
            _files[path] = cached with { CheckedAt = now };
            return cached.Value;
        }

        if (info.Length > MaxFileSize)
        {
            throw new SecretResolutionException($"secret {reference} is larger than {MaxFileSize} bytes; it must hold only the secret.");
        }

        string value;
        try
        {
            value = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SecretResolutionException($"secret {reference} could not be read: {ex.GetType().Name}.", ex);
        }

        // Files written by `echo` or editors end in a newline that is not part of the key.
        value = value.TrimEnd('\r', '\n');
        if (value.Length == 0)
        {
            throw new SecretResolutionException($"secret {reference} is not set (the file is empty).");
        }

        _files[path] = new FileEntry(value, info.LastWriteTimeUtc, info.Length, now);
        return value;
    }

    private sealed record FileEntry(string Value, DateTime LastWrite, long Length, long CheckedAt);
}
