using System.Globalization;
using Gateway.Grpc.Redis.Internal;

namespace Gateway.Grpc.Redis;

public sealed partial class RedisConnection
{
    /// <summary><c>GET key</c>: the value as UTF-8 text, or null when the key does not exist.</summary>
    public Task<string?> StringGetAsync(string key, CancellationToken cancellationToken = default)
        => ExecuteCore("GET", [CheckKey(key)], Converters.NullableString, cancellationToken);

    /// <summary>
    /// <c>SET key value [PX ms] [NX|XX]</c>. Returns true when the value was set, false when
    /// <paramref name="when"/> prevented it.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="expiry"/> is zero or negative.</exception>
    public Task<bool> StringSetAsync(string key, string value, TimeSpan? expiry = null, When when = When.Always, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(value);
        var count = 2 + (expiry is null ? 0 : 2) + (when == When.Always ? 0 : 1);
        var args = new object[count];
        args[0] = CheckKey(key);
        args[1] = value;
        var i = 2;
        if (expiry is { } ttl)
        {
            args[i++] = "PX";
            args[i++] = ToMilliseconds(ttl, nameof(expiry));
        }

        if (when != When.Always)
        {
            args[i] = when switch
            {
                When.NotExists => "NX",
                When.Exists => "XX",
                _ => throw new ArgumentOutOfRangeException(nameof(when), when, "Use Always, Exists or NotExists."),
            };
        }

        return ExecuteCore("SET", args, Converters.OkOrNull, cancellationToken);
    }

    /// <summary><c>INCRBY key increment</c>: the value after the increment (a missing key counts as 0).</summary>
    public Task<long> IncrByAsync(string key, long increment = 1, CancellationToken cancellationToken = default)
        => ExecuteCore("INCRBY", [CheckKey(key), increment], Converters.Int64, cancellationToken);

    /// <summary><c>PEXPIRE key ms</c>: true when the timeout was set, false when the key does not exist.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="expiry"/> is zero or negative.</exception>
    public Task<bool> ExpireAsync(string key, TimeSpan expiry, CancellationToken cancellationToken = default)
        => ExecuteCore("PEXPIRE", [CheckKey(key), ToMilliseconds(expiry, nameof(expiry))], Converters.IntegerIsOne, cancellationToken);

    /// <summary><c>DEL key</c>: true when the key existed.</summary>
    public Task<bool> DelAsync(string key, CancellationToken cancellationToken = default)
        => ExecuteCore("DEL", [CheckKey(key)], Converters.IntegerIsOne, cancellationToken);

    /// <summary><c>DEL key [key ...]</c>: how many of the keys existed.</summary>
    public Task<long> DelAsync(string[] keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Length == 0)
        {
            throw new ArgumentException("DEL needs at least one key.", nameof(keys));
        }

        var args = new object[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            args[i] = CheckKey(keys[i]);
        }

        return ExecuteCore("DEL", args, Converters.Int64, cancellationToken);
    }

    /// <summary><c>PUBLISH channel message</c>: how many subscribers (across the server) received it.</summary>
    public Task<long> PublishAsync(string channel, string message, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(channel);
        ArgumentNullException.ThrowIfNull(message);
        return ExecuteCore("PUBLISH", [channel, message], Converters.Int64, cancellationToken);
    }

    /// <summary><c>PING</c>: the round-trip time, measured on <see cref="RedisOptions.TimeProvider"/>.</summary>
    public async Task<TimeSpan> PingAsync(CancellationToken cancellationToken = default)
    {
        var started = _time.GetTimestamp();
        await ExecuteCore("PING", [], Converters.Result, cancellationToken).ConfigureAwait(false);
        return _time.GetElapsedTime(started);
    }

    /// <summary>
    /// Runs a Lua script: <c>EVALSHA sha numkeys keys... args...</c>, and when the server answers
    /// <c>NOSCRIPT</c> (first use, restart, <c>SCRIPT FLUSH</c>) <c>EVAL</c> with the source, which also caches it.
    /// </summary>
    /// <exception cref="RedisServerException">The script raised an error (message from Redis, including the line).</exception>
    public async Task<RedisResult> ScriptEvaluateAsync(LuaScript script, string[]? keys = null, object[]? args = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(script);
        var argv = BuildScriptArguments(script.Sha1, keys, args);
        try
        {
            return await ExecuteCore("EVALSHA", argv, Converters.Result, cancellationToken).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.ErrorCode == "NOSCRIPT")
        {
            // The EVALSHA has been answered, so the writer is done with argv and it can be reused.
            argv[0] = script.Script;
            return await ExecuteCore("EVAL", argv, Converters.Result, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Same as the <see cref="LuaScript"/> overload, for a script text (prepared and cached via <see cref="LuaScript.Prepare"/>).</summary>
    public Task<RedisResult> ScriptEvaluateAsync(string script, string[]? keys = null, object[]? args = null, CancellationToken cancellationToken = default)
        => ScriptEvaluateAsync(LuaScript.Prepare(script), keys, args, cancellationToken);

    /// <summary>Same as the <see cref="LuaScript"/> overload, for a script loaded with <see cref="ScriptLoadAsync"/>.</summary>
    public Task<RedisResult> ScriptEvaluateAsync(LoadedScript script, string[]? keys = null, object[]? args = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(script);
        return ScriptEvaluateAsync(script.Script, keys, args, cancellationToken);
    }

    /// <summary><c>SCRIPT LOAD</c>: puts the script in the server's cache and checks the returned SHA1.</summary>
    public async Task<LoadedScript> ScriptLoadAsync(LuaScript script, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(script);
        var sha = await ExecuteCore("SCRIPT", ["LOAD", script.Script], Converters.NullableString, cancellationToken).ConfigureAwait(false);
        if (!string.Equals(sha, script.Sha1, StringComparison.OrdinalIgnoreCase))
        {
            throw new RedisException($"SCRIPT LOAD returned SHA1 '{sha}' but the script's SHA1 is '{script.Sha1}'.");
        }

        return new LoadedScript(script, sha!);
    }

    /// <summary>
    /// Subscribes <paramref name="handler"/> to <paramref name="channel"/> on the Pub/Sub connection (opened on
    /// first use). Returns once the server confirmed the subscription; if the Pub/Sub connection is down it
    /// returns at once and the subscription is made when it reconnects. Handlers run one at a time, in publish
    /// order, on the connection's read loop: keep them quick. Dispose the result to unsubscribe.
    /// </summary>
    /// <exception cref="RedisTimeoutException">A connected server did not confirm within <see cref="RedisOptions.CommandTimeout"/> (nothing stays registered).</exception>
    public async Task<RedisSubscription> SubscribeAsync(string channel, Action<RedisChannelMessage> handler, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(channel);
        ArgumentNullException.ThrowIfNull(handler);
        return await GetSubscriber().SubscribeAsync(channel, handler, cancellationToken).ConfigureAwait(false);
    }

    private static object[] BuildScriptArguments(string first, string[]? keys, object[]? args)
    {
        var keyCount = keys?.Length ?? 0;
        var argCount = args?.Length ?? 0;
        var argv = new object[2 + keyCount + argCount];
        argv[0] = first;
        argv[1] = keyCount;
        for (var i = 0; i < keyCount; i++)
        {
            argv[2 + i] = CheckKey(keys![i]);
        }

        if (argCount > 0)
        {
            Array.Copy(args!, 0, argv, 2 + keyCount, argCount);
        }

        return argv;
    }

    private static string CheckKey(string key, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(key))] string? name = null)
    {
        ArgumentNullException.ThrowIfNull(key, name);
        return key;
    }

    private static long ToMilliseconds(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, value, "An expiry must be positive.");
        }

        return (long)Math.Ceiling(value.TotalMilliseconds);
    }
}

/// <summary>Reply conversions for the typed helpers; static so no delegate is allocated per call.</summary>
internal static class Converters
{
    public static readonly Func<RedisResult, RedisResult> Result = static reply => reply;

    public static readonly Func<RedisResult, string?> NullableString = static reply => reply.AsString();

    public static readonly Func<RedisResult, long> Int64 = static reply => reply.AsInt64();

    public static readonly Func<RedisResult, bool> IntegerIsOne = static reply => reply.AsInt64() == 1;

    public static readonly Func<RedisResult, bool> OkOrNull = static reply => reply.IsNull
        ? false
        : reply.Type == RedisResultType.SimpleString && string.Equals(reply.AsString(), "OK", StringComparison.Ordinal)
            ? true
            : throw new InvalidCastException(string.Create(CultureInfo.InvariantCulture, $"expected OK or nil, got {reply}"));
}
