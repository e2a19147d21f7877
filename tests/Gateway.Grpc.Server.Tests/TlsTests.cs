using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Gateway.Grpc.Server.Hosting;
using Gateway.Grpc.Server.Tests.Infrastructure;
using Gateway.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Gateway.Grpc.Server.Tests;

/// <summary>
/// TLS and mutual TLS on both listeners from PEM files the test makes (its own CA), with the
/// C# client, grpc-js and Python grpcio; certificates reloaded without a restart.
/// </summary>
public sealed class TlsTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("gw-tls-");
    private readonly TestCa _ca;

    public TlsTests()
    {
        _ca = TestCa.Create("Gateway Test CA");
        _ca.WriteCertificate(Path.Combine(_directory.FullName, "ca.pem"));
        WriteServerCertificate(_ca, "server");
        var client = _ca.Issue("billing-svc", server: false);
        WritePair(client, "client");
    }

    private string FilePath(string name) => Path.Combine(_directory.FullName, name);

    private void WriteServerCertificate(TestCa ca, string name) => WritePair(ca.Issue("gateway", server: true), name);

    private void WritePair(X509Certificate2 certificate, string name)
    {
        File.WriteAllText(FilePath(name + ".pem"), certificate.ExportCertificatePem());
        using var key = certificate.GetECDsaPrivateKey()!;
        File.WriteAllText(FilePath(name + ".key"), key.ExportPkcs8PrivateKeyPem());
    }

    private Dictionary<string, string?> Config(bool mutual, int reloadSeconds = 5)
    {
        var config = new Dictionary<string, string?>
        {
            ["tls:certificateFile"] = FilePath("server.pem"),
            ["tls:keyFile"] = FilePath("server.key"),
            ["tls:reloadIntervalSeconds"] = reloadSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (mutual)
        {
            config["tls:clientCaFile"] = FilePath("ca.pem");
        }

        return config;
    }

    /// <summary>A handler that trusts only the test CA and remembers the certificate the server showed.</summary>
    private SocketsHttpHandler Handler(X509Certificate2? clientCertificate = null, Action<X509Certificate2>? seen = null)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            if (certificate is null)
            {
                return false;
            }

            using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            seen?.Invoke(leaf);
            return _ca.Verifies(leaf);
        };
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
        }

        return handler;
    }

    private static X509Certificate2 LoadPair(string pem, string key)
    {
        using var loaded = X509Certificate2.CreateFromPemFile(pem, key);
        return X509CertificateLoader.LoadPkcs12(loaded.Export(X509ContentType.Pkcs12), null);
    }

    private static async Task<CompletionResponse> CompleteAsync(GatewayHarness gateway, HttpMessageHandler handler)
    {
        using var channel = GrpcChannel.ForAddress(gateway.GrpcAddress, new GrpcChannelOptions { HttpHandler = handler });
        return await new Completion.CompletionClient(channel).CompleteAsync(GatewayHarness.Request("sim-small", 8), deadline: DateTime.UtcNow.AddSeconds(15));
    }

    [Fact]
    public async Task Tls_BothListeners_ServeOverTls_PlaintextRefused()
    {
        await using var gateway = await GatewayHarness.StartAsync(Config(mutual: false));
        Assert.Equal("https", gateway.GrpcAddress.Scheme);
        Assert.Equal("https", gateway.HttpAddress.Scheme);

        var response = await CompleteAsync(gateway, Handler());
        Assert.NotEmpty(response.Message.Content);

        using (var http = new HttpClient(Handler()) { BaseAddress = gateway.HttpAddress })
        {
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
        }

        // Cleartext h2c to the TLS port gets no gRPC answer. The client reports the connection
        // closed (UNAVAILABLE) or, when the server's TLS alert bytes reach its HTTP/2 reader first,
        // a protocol error (INTERNAL): which one is a race; an answer is never one of them.
        using var plain = GrpcChannel.ForAddress(new UriBuilder(gateway.GrpcAddress) { Scheme = "http" }.Uri);
        var ex = await Assert.ThrowsAsync<RpcException>(() => new Completion.CompletionClient(plain).CompleteAsync(GatewayHarness.Request("sim-small", 8), deadline: DateTime.UtcNow.AddSeconds(10)).ResponseAsync);
        Assert.Contains(ex.StatusCode, new[] { StatusCode.Unavailable, StatusCode.Internal });
    }

    [Fact]
    public async Task MutualTls_ClientCertificateFromTheCa_Required()
    {
        await using var gateway = await GatewayHarness.StartAsync(Config(mutual: true));
        using var client = LoadPair(FilePath("client.pem"), FilePath("client.key"));

        Assert.NotEmpty((await CompleteAsync(gateway, Handler(client))).Message.Content);

        // Refused in the handshake. Under TLS 1.3 the client learns it after sending its request
        // (the server's alert arrives then), so the client reports INTERNAL or UNAVAILABLE.
        StatusCode[] refused = [StatusCode.Unavailable, StatusCode.Internal];
        var none = await Assert.ThrowsAsync<RpcException>(() => CompleteAsync(gateway, Handler()));
        Assert.Contains(none.StatusCode, refused);

        using var otherCa = TestCa.Create("Some Other CA");
        using var stranger = otherCa.Issue("stranger", server: false);
        var foreign = await Assert.ThrowsAsync<RpcException>(() => CompleteAsync(gateway, Handler(stranger)));
        Assert.Contains(foreign.StatusCode, refused);

        // REST on the HTTP listener is under the same rule.
        using var rest = new HttpClient(Handler(client)) { BaseAddress = gateway.HttpAddress };
        Assert.Equal(HttpStatusCode.OK, (await rest.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
        using var anonymous = new HttpClient(Handler()) { BaseAddress = gateway.HttpAddress };
        await Assert.ThrowsAsync<HttpRequestException>(() => anonymous.GetAsync(new Uri("/healthz", UriKind.Relative)));
    }

    [Fact]
    public async Task Certificate_ReplacedOnDisk_NewConnectionsGetTheNewOne_WithoutRestart()
    {
        await using var gateway = await GatewayHarness.StartAsync(Config(mutual: false, reloadSeconds: 1));
        string? first = null;
        await CompleteAsync(gateway, Handler(seen: c => first = c.Thumbprint));
        Assert.NotNull(first);

        WriteServerCertificate(_ca, "server");
        using var written = X509Certificate2.CreateFromPemFile(FilePath("server.pem"), FilePath("server.key"));
        var expected = written.Thumbprint;
        Assert.NotEqual(first, expected);

        string? now = null;
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (now != expected)
        {
            Assert.True(DateTime.UtcNow < deadline, $"still served {now} after the files changed; expected {expected}");
            await Task.Delay(200);
            await CompleteAsync(gateway, Handler(seen: c => now = c.Thumbprint));
        }
    }

    [Fact]
    public async Task Certificate_HalfWrittenFiles_KeepTheOldOne()
    {
        await using var gateway = await GatewayHarness.StartAsync(Config(mutual: false, reloadSeconds: 1));
        var tls = gateway.Service<TlsCertificates>();
        var before = tls.ServerCertificate.Thumbprint;

        await File.WriteAllTextAsync(FilePath("server.key"), "-----BEGIN PRIVATE KEY-----\ntruncated");
        Assert.False(tls.ReloadIfChanged());
        Assert.Equal(before, tls.ServerCertificate.Thumbprint);
        Assert.NotEmpty((await CompleteAsync(gateway, Handler())).Message.Content);
    }

    [Fact]
    public void Config_MissingKeyFile_FailsStartUpNamingTheKey()
    {
        var config = Config(mutual: false);
        config["tls:keyFile"] = FilePath("nope.key");
        config["grpcAddress"] = "127.0.0.1:0";
        config["httpAddress"] = "127.0.0.1:0";
        config["store:kind"] = "memory";
        var ex = Assert.Throws<GatewayConfigurationException>(() => GatewayApp.Build([], config));
        Assert.Contains("tls:keyFile", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public async Task GrpcJs_OverTlsAndMutualTls(bool mutual, bool presentCertificate)
    {
        ExternalProcess.RequireNodeModules();
        await using var gateway = await GatewayHarness.StartAsync(Config(mutual));
        var args = new List<string> { "tests/interop/tls-client.js", "--server", gateway.GrpcAddress.Authority, "--ca", FilePath("ca.pem") };
        if (presentCertificate)
        {
            args.AddRange(["--cert", FilePath("client.pem"), "--key", FilePath("client.key")]);
        }

        if (mutual && !presentCertificate)
        {
            args.Add("--expect-failure");
        }

        var (exit, output) = await ExternalProcess.RunAsync("node", [.. args], TimeSpan.FromMinutes(1));
        Assert.True(exit == 0, output);
        Assert.Contains("PASS tls", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public async Task PythonGrpcio_OverTlsAndMutualTls(bool mutual, bool presentCertificate)
    {
        await using var gateway = await GatewayHarness.StartAsync(Config(mutual));
        var args = new List<string> { "tests/python/tls_smoke.py", "--server", gateway.GrpcAddress.Authority, "--ca", FilePath("ca.pem") };
        if (presentCertificate)
        {
            args.AddRange(["--cert", FilePath("client.pem"), "--key", FilePath("client.key")]);
        }

        if (mutual && !presentCertificate)
        {
            args.Add("--expect-failure");
        }

        var (exit, output) = await ExternalProcess.RunAsync("/usr/bin/python3", [.. args], TimeSpan.FromMinutes(2));
        Assert.True(exit == 0, output);
        Assert.Contains("PASS tls", output, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _ca.Dispose();
        _directory.Delete(recursive: true);
    }

    /// <summary>A throwaway certificate authority (ECDSA P-256) that issues server and client certificates.</summary>
    private sealed class TestCa : IDisposable
    {
        private readonly X509Certificate2 _root;

        private TestCa(X509Certificate2 root) => _root = root;

        public static TestCa Create(string name)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            return new TestCa(request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30)));
        }

        public void WriteCertificate(string path) => File.WriteAllText(path, _root.ExportCertificatePem());

        public X509Certificate2 Issue(string name, bool server)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
            if (server)
            {
                var names = new SubjectAlternativeNameBuilder();
                names.AddIpAddress(IPAddress.Loopback);
                names.AddDnsName("localhost");
                request.CertificateExtensions.Add(names.Build());
            }

            var serial = RandomNumberGenerator.GetBytes(12);
            serial[0] &= 0x7F;
            using var issued = request.Create(_root, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(7), serial);
            return issued.CopyWithPrivateKey(key);
        }

        public bool Verifies(X509Certificate2 certificate)
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(_root);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(certificate);
        }

        public void Dispose() => _root.Dispose();
    }
}
