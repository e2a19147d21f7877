namespace Gateway.Grpc.Console.Configuration;

/// <summary>
/// The web console (<c>console:</c>) served at <c>/ui</c> on the HTTP port. Off unless
/// <see cref="Enabled"/> is true, or unset in open dev mode (no master key) on a loopback HTTP address.
/// </summary>
public sealed class ConsoleOptions
{
    /// <summary>true: on; false: off; unset: on only in open dev mode on a loopback HTTP address (the embedded default).</summary>
    public bool? Enabled { get; set; }

    /// <summary>A session ends after this many minutes without a request (default 30).</summary>
    public int SessionIdleMinutes { get; set; } = 30;

    /// <summary>A session ends this many hours after sign-in, used or not (default 8).</summary>
    public int SessionMaxHours { get; set; } = 8;

    /// <summary>Recent calls kept for the live tail (metadata only; default 500).</summary>
    public int TailSize { get; set; } = 500;

    /// <summary>Refused sign-ins one client address may have per window before its sign-ins answer 429 (default 10).</summary>
    public int SignInMaxFailures { get; set; } = 10;

    /// <summary>The window, in minutes, over which refused sign-ins are counted (default 15).</summary>
    public int SignInWindowMinutes { get; set; } = 15;

    /// <summary>Whether the console runs, given the rest of the configuration (open dev mode: no master key, keys not required).</summary>
    public bool IsOn(bool openDevMode, bool loopbackHttp) => Enabled ?? (openDevMode && loopbackHttp);

    /// <summary>Configuration errors, each naming the key and the fix.</summary>
    public static List<string> Validate(ConsoleOptions options, bool masterKeySet, bool loopbackHttp)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (options.SessionIdleMinutes is < 1 or > 1440)
        {
            errors.Add($"console:sessionIdleMinutes: {options.SessionIdleMinutes} must be between 1 and 1440.");
        }

        if (options.SessionMaxHours is < 1 or > 168)
        {
            errors.Add($"console:sessionMaxHours: {options.SessionMaxHours} must be between 1 and 168.");
        }

        if (options.TailSize is < 10 or > 100_000)
        {
            errors.Add($"console:tailSize: {options.TailSize} must be between 10 and 100000.");
        }

        if (options.SignInMaxFailures is < 1 or > 10_000)
        {
            errors.Add($"console:signInMaxFailures: {options.SignInMaxFailures} must be between 1 and 10000.");
        }

        if (options.SignInWindowMinutes is < 1 or > 1440)
        {
            errors.Add($"console:signInWindowMinutes: {options.SignInWindowMinutes} must be between 1 and 1440.");
        }

        if (options.Enabled == true && !masterKeySet && !loopbackHttp)
        {
            errors.Add("console:enabled: without auth:masterKey anyone who reaches the HTTP port could use the console; set auth:masterKey or bind httpAddress to loopback.");
        }

        return errors;
    }
}
