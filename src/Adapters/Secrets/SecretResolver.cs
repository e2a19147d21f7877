using System.Collections.Concurrent;
using System.Text;

namespace Gateway.Grpc.Adapters.Secrets;

/// <summary>
/// The default <see cref="ISecretResolver"/>. <c>env:</c> is cached and read again once
/// <see cref="EnvCheckInterval"/> has passed (a lookup goes through the runtime's native
/// <c>getenv</c> under a lock: about 1.5 µs, measured on every HTTP provider call before it was
/// cached). <c>file:</c> is cached, and the cache is revalidated once
/// <see cref="FileCheckInterval"/> has passed: when the file's last-write time or length
/// changed it is read again, so a rotated secret is picked up within that interval.
/// </summary>
public sealed class SecretResolver(TimeProvider timeProvider) : ISecretResolver
{
    /// <summary>Largest secret file accepted; anything bigger is surely not a key.</summary>
    public const int MaxFileSize = 64 * 1024;

    private readonly ConcurrentDictionary<string, FileEntry> _files = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, EnvEntry> _env = new(StringComparer.Ordinal);

    public SecretResolver()
        : this(TimeProvider.System)
    {
    }

    /// <summary>How long a file's cached content is trusted before its metadata is checked again.</summary>
    public TimeSpan FileCheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long an environment variable's value is trusted before it is read again. Only the
    /// process itself can change its environment (an embedding host, a test), so this bounds how
    /// late such a change is seen.
    /// </summary>
    public TimeSpan EnvCheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    public string Resolve(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);

        // An env: reference resolved before was valid then: skip the syntax check as well. (file:
        // references have their own cache, checked after the syntax, so they skip this lookup.)
        if (reference.StartsWith(SecretReference.EnvPrefix, StringComparison.Ordinal)
            && _env.TryGetValue(reference, out var env)
            && timeProvider.GetElapsedTime(env.CheckedAt) < EnvCheckInterval)
        {
            return env.Value;
        }

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
                _env.TryRemove(reference, out _);
                throw new SecretResolutionException($"secret {reference} is not set (the environment variable {name} is missing or empty).");
            }

            _env[reference] = new EnvEntry(value, timeProvider.GetTimestamp());
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

    private sealed record EnvEntry(string Value, long CheckedAt);

    private sealed record FileEntry(string Value, DateTime LastWrite, long Length, long CheckedAt);
}
