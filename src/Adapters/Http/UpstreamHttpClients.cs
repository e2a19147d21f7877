using System.Net;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;

namespace Gateway.Grpc.Adapters;

/// <summary>
/// The IHttpClientFactory names of upstream clients: one per deployment, so a host can give a
/// deployment its own proxy, client certificate or delegating handlers through DI:
/// <c>services.AddHttpClient(UpstreamHttpClients.NameFor("my-deployment")).ConfigurePrimaryHttpMessageHandler(...)</c>.
/// </summary>
public static class UpstreamHttpClients
{
    public const string Prefix = "gateway-upstream:";

    public static string NameFor(string deployment) => Prefix + deployment;

    /// <summary>
    /// A deployment's primary handler: the adapters' SocketsHttpHandler, through
    /// <paramref name="proxyUrl"/> when one is set (settings.proxy_url).
    /// </summary>
    public static SocketsHttpHandler CreateHandler(string? proxyUrl)
    {
        var handler = Http.HttpProviderAdapter.CreateHandler();
        if (!string.IsNullOrEmpty(proxyUrl))
        {
            handler.Proxy = new WebProxy(new Uri(proxyUrl, UriKind.Absolute));
            handler.UseProxy = true;
        }

        return handler;
    }

    /// <summary>
    /// Every upstream name gets the gateway's handler and no client timeout (the adapters bound
    /// each call themselves), and keeps its handler for the process's life: SocketsHttpHandler
    /// recycles connections itself (PooledConnectionLifetime), so the factory need not rotate it.
    /// Configuration the host adds for a name runs after this and wins.
    /// </summary>
    internal sealed class Defaults : IConfigureNamedOptions<HttpClientFactoryOptions>
    {
        public void Configure(HttpClientFactoryOptions options) => Configure(Options.DefaultName, options);

        public void Configure(string? name, HttpClientFactoryOptions options)
        {
            if (name is null || !name.StartsWith(Prefix, StringComparison.Ordinal))
            {
                return;
            }

            options.HandlerLifetime = Timeout.InfiniteTimeSpan;
            options.HttpMessageHandlerBuilderActions.Insert(0, static builder => builder.PrimaryHandler = Http.HttpProviderAdapter.CreateHandler());
            options.HttpClientActions.Insert(0, static client => client.Timeout = Timeout.InfiniteTimeSpan);
        }
    }
}
