using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Gateway.Grpc.Server.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Hosting;

/// <summary>
/// The listeners' TLS material, loaded from PEM files and reloaded when they change: the server
/// certificate (with its intermediates) and, for mutual TLS, the CA client certificates must chain
/// to. Each new connection takes what is current; connections already open keep theirs. A file
/// that fails to load on reload is logged and the previous material stays in use.
/// </summary>
internal sealed partial class TlsCertificates : IHostedService, IDisposable
{
    private readonly TlsOptions _options;
    private readonly TimeProvider _timeProvider;
    private volatile Material _current;
    private ITimer? _timer;

    private TlsCertificates(TlsOptions options, Material material, TimeProvider timeProvider)
    {
        _options = options;
        _current = material;
        _timeProvider = timeProvider;
    }

    /// <summary>Set once the host's logging is built (the files are first read before that).</summary>
    public ILogger Logger { get; set; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>Loads the files now; a problem fails start-up with a message naming the key to fix.</summary>
    public static TlsCertificates Load(TlsOptions options, TimeProvider timeProvider)
    {
        try
        {
            return new TlsCertificates(options, Material.Load(options), timeProvider);
        }
        catch (Exception ex) when (ex is IOException or CryptographicException or ArgumentException or UnauthorizedAccessException)
        {
            throw new GatewayConfigurationException($"Invalid gateway configuration: tls: {ex.Message}");
        }
    }

    public X509Certificate2 ServerCertificate => _current.Certificate;

    /// <summary>Reloads the files if any changed; returns true when new material was taken.</summary>
    public bool ReloadIfChanged()
    {
        var current = _current;
        if (Material.StampOf(_options) == current.Stamp)
        {
            return false;
        }

        try
        {
            _current = Material.Load(_options);
            Log.Reloaded(Logger, _current.Certificate.Subject, _current.Certificate.NotAfter);
            return true;
        }
        catch (Exception ex) when (ex is IOException or CryptographicException or ArgumentException or UnauthorizedAccessException)
        {
            // Half-written files during a rotation, usually: keep serving the old pair, try again next tick.
            Log.ReloadFailed(Logger, ex.Message);
            return false;
        }
    }

    /// <summary>The TLS options of one new connection on a listener speaking <paramref name="protocol"/>.</summary>
    public SslServerAuthenticationOptions ForConnection(SslApplicationProtocol protocol)
    {
        var material = _current;
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = material.Context,
            ApplicationProtocols = [protocol],
            EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
        };
        if (material.ClientCas is { } cas)
        {
            var required = !string.Equals(_options.ClientCertificateMode, "allow", StringComparison.OrdinalIgnoreCase);
            options.ClientCertificateRequired = true;
            options.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is null
                ? !required
                : ChainsTo(certificate, cas);
        }

        return options;
    }

    private static bool ChainsTo(X509Certificate certificate, X509Certificate2Collection cas)
    {
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(cas);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        // A client certificate must be meant for client authentication when it says what it is for.
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2"));
        return chain.Build(leaf);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var period = TimeSpan.FromSeconds(Math.Max(1, _options.ReloadIntervalSeconds));
        _timer = _timeProvider.CreateTimer(static s => ((TlsCertificates)s!).ReloadIfChanged(), this, period, period);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _timer?.Dispose();

    private sealed class Material
    {
        private Material(X509Certificate2 certificate, SslStreamCertificateContext context, X509Certificate2Collection? clientCas, string stamp)
        {
            Certificate = certificate;
            Context = context;
            ClientCas = clientCas;
            Stamp = stamp;
        }

        public X509Certificate2 Certificate { get; }

        public SslStreamCertificateContext Context { get; }

        public X509Certificate2Collection? ClientCas { get; }

        public string Stamp { get; }

        public static Material Load(TlsOptions options)
        {
            if (string.IsNullOrEmpty(options.CertificateFile) || string.IsNullOrEmpty(options.KeyFile))
            {
                throw new ArgumentException("certificateFile and keyFile are both needed (PEM files).");
            }

            var stamp = StampOf(options);
            using var pem = X509Certificate2.CreateFromPemFile(options.CertificateFile, options.KeyFile);
            // Re-imported so the private key is usable by the TLS stack on every platform.
            var certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            var chain = new X509Certificate2Collection();
            chain.ImportFromPemFile(options.CertificateFile);
            var intermediates = new X509Certificate2Collection();
            foreach (var extra in chain)
            {
                if (extra.Thumbprint != certificate.Thumbprint)
                {
                    intermediates.Add(extra);
                }
            }

            var context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
            X509Certificate2Collection? cas = null;
            if (!string.IsNullOrEmpty(options.ClientCaFile))
            {
                cas = [];
                cas.ImportFromPemFile(options.ClientCaFile);
                if (cas.Count == 0)
                {
                    throw new ArgumentException($"clientCaFile '{options.ClientCaFile}' holds no PEM certificate.");
                }
            }

            return new Material(certificate, context, cas, stamp);
        }

        /// <summary>Last-write time and length of every file: changes when any file is replaced.</summary>
        public static string StampOf(TlsOptions options)
        {
            static string Of(string? path)
            {
                if (string.IsNullOrEmpty(path))
                {
                    return "-";
                }

                var info = new FileInfo(path);
                return info.Exists ? $"{info.LastWriteTimeUtc.Ticks}:{info.Length}" : "missing";
            }

            return $"{Of(options.CertificateFile)}|{Of(options.KeyFile)}|{Of(options.ClientCaFile)}";
        }
    }

    private static partial class Log
    {
        [LoggerMessage(120, LogLevel.Information, "TLS certificate reloaded: {Subject}, valid until {NotAfter:u}.", EventName = "TlsReloaded")]
        public static partial void Reloaded(ILogger logger, string subject, DateTime notAfter);

        [LoggerMessage(121, LogLevel.Warning, "TLS files changed but could not be loaded ({Reason}); the previous certificate stays in use.", EventName = "TlsReloadFailed")]
        public static partial void ReloadFailed(ILogger logger, string reason);
    }
}
