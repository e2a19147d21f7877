using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Gateway.Grpc.Redis;

/// <summary>
/// A Lua script with its SHA1, computed once, so <see cref="RedisConnection.ScriptEvaluateAsync(LuaScript, string[], object[], CancellationToken)"/>
/// can send the short <c>EVALSHA</c> and fall back to <c>EVAL</c> only when the server answers <c>NOSCRIPT</c>
/// (after a restart or <c>SCRIPT FLUSH</c>). Keys go in <c>KEYS[]</c>, arguments in <c>ARGV[]</c>; unlike
/// StackExchange.Redis there is no <c>@name</c> parameter rewriting.
/// </summary>
public sealed class LuaScript
{
    private static readonly ConcurrentDictionary<string, LuaScript> Cache = new(StringComparer.Ordinal);

    private LuaScript(string script)
    {
        Script = script;
#pragma warning disable CA5350 // SHA1 is not used for security: Redis names scripts by their SHA1 (EVALSHA).
        Sha1 = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(script)));
#pragma warning restore CA5350
    }

    /// <summary>The Lua source.</summary>
    public string Script { get; }

    /// <summary>Lower-case hex SHA1 of the UTF-8 source: the name Redis gives the script.</summary>
    public string Sha1 { get; }

    /// <summary>Returns the cached instance for <paramref name="script"/> (the cache keeps every distinct script text, so prepare constants, not generated text).</summary>
    public static LuaScript Prepare(string script)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(script);
        return Cache.GetOrAdd(script, static text => new LuaScript(text));
    }

    /// <inheritdoc />
    public override string ToString() => Sha1;
}

/// <summary>A script the server confirmed it holds (<c>SCRIPT LOAD</c>), from <see cref="RedisConnection.ScriptLoadAsync"/>.</summary>
public sealed class LoadedScript
{
    internal LoadedScript(LuaScript script, string sha1)
    {
        Script = script;
        Sha1 = sha1;
    }

    /// <summary>The script; kept so evaluation can fall back to <c>EVAL</c> if the server loses it.</summary>
    public LuaScript Script { get; }

    /// <summary>The SHA1 the server returned (equal to <see cref="LuaScript.Sha1"/>).</summary>
    public string Sha1 { get; }
}
