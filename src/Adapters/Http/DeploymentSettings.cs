using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using Gateway.Grpc.Adapters.Configuration;
using Gateway.Grpc.Adapters.Secrets;

namespace Gateway.Grpc.Adapters.Http;

/// <summary>
/// A deployment's settings, parsed once per <see cref="DeploymentInfo"/> instance (the host
/// builds those once at start-up). Secret references stay references here; they are resolved
/// on every call.
/// </summary>
internal sealed class DeploymentSettings
{
    private static readonly ConditionalWeakTable<DeploymentInfo, DeploymentSettings> Cache = [];

    private readonly IReadOnlyDictionary<string, string> _raw;
    private readonly string _provider;
    private readonly DeploymentInfo _deployment;
    private readonly ConcurrentDictionary<string, Uri> _endpoints = new(StringComparer.Ordinal);

    private DeploymentSettings(string provider, DeploymentInfo deployment)
    {
        _provider = provider;
        _raw = deployment.Settings;
        _deployment = deployment;
        var errors = AdapterSettingsValidator.Validate(provider, deployment.Settings);
        if (errors.Count > 0)
        {
            // The host validates at start-up; this catches deployments built without it.
            throw new ProviderException(ProviderErrorKind.ServerError, $"Deployment '{deployment.Name}' ({provider}) is misconfigured: {string.Join(" ", errors)}");
        }

        var baseUrl = Get("base_url");
        BaseUrl = baseUrl?.TrimEnd('/') ?? "";
        ApiKey = Get("api_key");
        Timeout = TimeSpan.FromMilliseconds(int.Parse(Get("timeout_ms") ?? "600000", CultureInfo.InvariantCulture));
        StreamIdleTimeout = TimeSpan.FromMilliseconds(int.Parse(Get("stream_idle_timeout_ms") ?? "300000", CultureInfo.InvariantCulture));
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var (key, value) in deployment.Settings)
        {
            if (key.StartsWith(SettingsSchema.HeaderPrefix, StringComparison.OrdinalIgnoreCase))
            {
                headers.Add(new(key[SettingsSchema.HeaderPrefix.Length..], value));
            }
        }

        Headers = headers;
    }

    /// <summary>base_url without a trailing slash ("" when the provider has none).</summary>
    public string BaseUrl { get; }

    /// <summary>The api_key secret reference, or null.</summary>
    public string? ApiKey { get; }

    public TimeSpan Timeout { get; }

    public TimeSpan StreamIdleTimeout { get; }

    /// <summary>Extra upstream headers; values may be secret references.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; }

    public static DeploymentSettings For(string provider, DeploymentInfo deployment)
    {
        if (Cache.TryGetValue(deployment, out var settings))
        {
            return settings;
        }

        settings = new DeploymentSettings(provider, deployment);
        Cache.AddOrUpdate(deployment, settings);
        return settings;
    }

    /// <summary>
    /// The upstream URL of <paramref name="operation"/>, built by <paramref name="build"/> from these
    /// settings and their deployment on first use and kept from then on: it depends on nothing
    /// else (base_url is never a secret reference), so a call neither formats nor parses it again.
    /// </summary>
    public Uri Endpoint(string operation, Func<DeploymentSettings, DeploymentInfo, string, string> build)
        => _endpoints.TryGetValue(operation, out var uri) ? uri : _endpoints.GetOrAdd(operation, new Uri(build(this, _deployment, operation)));

    /// <summary><c>{base_url}/{path}</c>, kept as <see cref="Endpoint(string, Func{DeploymentSettings, DeploymentInfo, string, string})"/> keeps it.</summary>
    public Uri Endpoint(string path) => Endpoint(path, static (settings, _, relative) => $"{settings.BaseUrl}/{relative}");

    /// <summary>The setting's value, else the schema default, else null.</summary>
    public string? Get(string name)
        => _raw.TryGetValue(name, out var value) ? value : SettingsSchema.DefaultOf(_provider, name);

    public bool GetBool(string name) => bool.TryParse(Get(name), out var b) && b;

    public int GetInt(string name, int fallback) => int.TryParse(Get(name), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : fallback;

    /// <summary>Resolves a secret reference now; a failure is an auth failure naming the reference.</summary>
    public static string ResolveSecret(ISecretResolver secrets, string reference, string settingName)
    {
        try
        {
            return secrets.Resolve(reference);
        }
        catch (SecretResolutionException ex)
        {
            throw new ProviderException(ProviderErrorKind.AuthFailure, $"settings.{settingName}: {ex.Message}", null, ex);
        }
    }

    /// <summary>The header value, resolving it when it is a secret reference.</summary>
    public static string HeaderValue(ISecretResolver secrets, KeyValuePair<string, string> header)
        => SecretReference.IsReference(header.Value) ? ResolveSecret(secrets, header.Value, SettingsSchema.HeaderPrefix + header.Key) : header.Value;
}
