using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Redis;

/// <summary>
/// Settings for <see cref="RedisConnection.ConnectAsync(RedisOptions, CancellationToken)"/>. Bindable from
/// configuration (all but <see cref="TimeProvider"/> and <see cref="LoggerFactory"/>); checked by
/// <see cref="Validate"/> when connecting.
/// </summary>
public sealed class RedisOptions
{
    /// <summary>Server address: <c>host:port</c>, <c>[::1]:port</c>, or <c>host</c> (port 6379). Default <c>127.0.0.1:6379</c>.</summary>
    public string Endpoint { get; set; } = "127.0.0.1:6379";

    /// <summary>ACL user name for <c>AUTH user password</c>; null uses <c>AUTH password</c> (the <c>default</c> user).</summary>
    public string? User { get; set; }

    /// <summary>
    /// A secret reference to the password: <c>env:NAME</c> (environment variable) or <c>file:/path</c>
    /// (file content, trailing newline trimmed). Resolved on every connect, so a rotated secret is picked
    /// up on the next reconnection. Literal passwords are refused so they never sit in config files.
    /// </summary>
    public string? Password { get; set; }

    /// <summary>Database index selected on connect (<c>SELECT</c>). Default 0.</summary>
    public int Database { get; set; }

    /// <summary>Time allowed for TCP connect plus the handshake (AUTH, SELECT, CLIENT SETNAME, PING). Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Time allowed from queueing a command to its reply. On expiry the caller gets
    /// <see cref="RedisTimeoutException"/>; the late reply is still consumed in order. Default 2 s.
    /// Checked by a timer every quarter of this value (at least every 10 ms, at most every second).
    /// </summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Name set with <c>CLIENT SETNAME</c> (shows in <c>CLIENT LIST</c>); no spaces. Null sets none.</summary>
    public string? ClientName { get; set; }

    /// <summary>
    /// When true (default) <see cref="RedisConnection.ConnectAsync(RedisOptions, CancellationToken)"/> throws
    /// if the first connection fails. When false it returns a disconnected connection that keeps
    /// reconnecting in the background (a gateway that must start while Redis is down wants this).
    /// </summary>
    public bool AbortOnConnectFail { get; set; } = true;

    /// <summary>First reconnection delay; doubles per failed attempt (with jitter) up to <see cref="ReconnectMaxDelay"/>. Default 50 ms.</summary>
    public TimeSpan ReconnectMinDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Longest delay between reconnection attempts. Default 2 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Clock for timeouts and backoff. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Logger factory for connection events (category <c>Gateway.Grpc.Redis.RedisConnection</c>). Null logs nothing.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Checks every setting and throws one exception listing all problems.</summary>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it and the fix.</exception>
    public void Validate()
    {
        var problems = new List<string>();
        if (!Internal.EndpointParser.TryParse(Endpoint, out _, out _, out var endpointError))
        {
            problems.Add($"RedisOptions.Endpoint: {endpointError}");
        }

        if (Password is not null && !Internal.SecretResolver.IsReference(Password))
        {
            problems.Add("RedisOptions.Password must be a secret reference, 'env:NAME' or 'file:/path'; literal passwords are not accepted.");
        }

        if (User is not null && (User.Length == 0 || User.Any(char.IsWhiteSpace)))
        {
            problems.Add($"RedisOptions.User '{User}' must be a non-empty ACL user name without spaces.");
        }

        if (User is not null && Password is null)
        {
            problems.Add("RedisOptions.User is set but RedisOptions.Password is not; AUTH needs both.");
        }

        if (Database < 0)
        {
            problems.Add($"RedisOptions.Database is {Database}; it must be 0 or more.");
        }

        CheckPositive(problems, nameof(ConnectTimeout), ConnectTimeout);
        CheckPositive(problems, nameof(CommandTimeout), CommandTimeout);
        CheckPositive(problems, nameof(ReconnectMinDelay), ReconnectMinDelay);
        CheckPositive(problems, nameof(ReconnectMaxDelay), ReconnectMaxDelay);
        if (ReconnectMaxDelay < ReconnectMinDelay)
        {
            problems.Add($"RedisOptions.ReconnectMaxDelay ({ReconnectMaxDelay}) is shorter than ReconnectMinDelay ({ReconnectMinDelay}).");
        }

        if (ClientName is not null && (ClientName.Length == 0 || ClientName.Any(c => c is < '!' or > '~')))
        {
            problems.Add($"RedisOptions.ClientName '{ClientName}' must be non-empty printable ASCII without spaces (Redis rejects others in CLIENT SETNAME).");
        }

        if (TimeProvider is null)
        {
            problems.Add("RedisOptions.TimeProvider is null; leave it as TimeProvider.System.");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid Redis settings:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", problems));
        }
    }

    internal RedisOptions Clone() => (RedisOptions)MemberwiseClone();

    private static void CheckPositive(List<string> problems, string name, TimeSpan value)
    {
        if (value <= TimeSpan.Zero || value == Timeout.InfiniteTimeSpan)
        {
            problems.Add($"RedisOptions.{name} is {value}; it must be a positive time span such as 00:00:02.");
        }
    }
}
