using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Gateway.Admin.V1;
using Gateway.Grpc.Governance.Keys;
using Gateway.Grpc.Governance.Ledger;
using Gateway.Grpc.Governance.Storage;
using Gateway.Grpc.Server.Hosting;
using Gateway.Grpc.Server.Tests.Infrastructure;
using Gateway.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Grpc.Server.Tests;

/// <summary>
/// Bearer JWTs beside virtual keys, through the real gateway: tokens this test signs with RSA and
/// EC keys it generates, the JWKS from a temp file or from a small Kestrel server in the test.
/// </summary>
public sealed class JwtTests : IDisposable
{
    private const string Issuer = "https://issuer.test/realms/main";
    private const string Audience = "llm-gateway";
    private const string TeamId = "team-jwt";

    private readonly RSA _rsa = RSA.Create(2048);
    private readonly ECDsa _ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly string _dir = Directory.CreateTempSubdirectory("gw-jwt-").FullName;

    public void Dispose()
    {
        _rsa.Dispose();
        _ec.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    // ---- signing helpers -------------------------------------------------------------------

    private static string B64(byte[] bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);

    private static string RsaJwk(RSA rsa, string kid)
    {
        var p = rsa.ExportParameters(false);
        return JsonSerializer.Serialize(new Dictionary<string, string> { ["kty"] = "RSA", ["kid"] = kid, ["use"] = "sig", ["alg"] = "RS256", ["n"] = B64(p.Modulus!), ["e"] = B64(p.Exponent!) });
    }

    private static string EcJwk(ECDsa ec, string kid)
    {
        var p = ec.ExportParameters(false);
        return JsonSerializer.Serialize(new Dictionary<string, string> { ["kty"] = "EC", ["crv"] = "P-256", ["kid"] = kid, ["use"] = "sig", ["alg"] = "ES256", ["x"] = B64(p.Q.X!), ["y"] = B64(p.Q.Y!) });
    }

    private static string Jwks(params string[] keys) => "{\"keys\":[" + string.Join(",", keys) + "]}";

    private static SigningCredentials Rs256(RSA rsa, string kid) => new(new RsaSecurityKey(rsa) { KeyId = kid }, SecurityAlgorithms.RsaSha256);

    private static SigningCredentials Es256(ECDsa ec, string kid) => new(new ECDsaSecurityKey(ec) { KeyId = kid }, SecurityAlgorithms.EcdsaSha256);

    private static string Sign(SigningCredentials credentials, Dictionary<string, object> claims, string issuer = Issuer, string audience = Audience, DateTime? expires = null, DateTime? notBefore = null)
    {
        var now = DateTime.UtcNow;
        var nbf = notBefore ?? now.AddMinutes(-1);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            IssuedAt = nbf,
            NotBefore = nbf,
            Expires = expires ?? now.AddMinutes(10),
            Claims = claims,
            SigningCredentials = credentials,
        });
    }

    private static Dictionary<string, object> Claims(string sub, string? team = TeamId, object? models = null)
    {
        var claims = new Dictionary<string, object> { ["sub"] = sub };
        if (team is not null)
        {
            claims["team"] = team;
        }

        if (models is not null)
        {
            claims["models"] = models;
        }

        return claims;
    }

    /// <summary>An unsigned token (alg none): header and payload, empty signature.</summary>
    private static string Unsigned(string sub)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = B64(Encoding.UTF8.GetBytes("""{"alg":"none","typ":"JWT"}"""));
        var payload = B64(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Dictionary<string, object> { ["iss"] = Issuer, ["aud"] = Audience, ["sub"] = sub, ["team"] = TeamId, ["nbf"] = now - 60, ["exp"] = now + 600 })));
        return header + "." + payload + ".";
    }

    // ---- gateway helpers -------------------------------------------------------------------

    private string WriteJwks(string json)
    {
        var path = Path.Combine(_dir, "jwks-" + Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, json);
        return path;
    }

    private static async Task<(GatewayHarness Gateway, string Master)> StartAsync(string jwks, Dictionary<string, string?>? extra = null, Action<IServiceCollection>? configureServices = null)
    {
        var variable = "GW_TEST_MASTER_" + Guid.NewGuid().ToString("N");
        var master = "master-" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, master);
        var config = new Dictionary<string, string?>
        {
            ["auth:masterKey"] = "env:" + variable,
            ["auth:jwt:issuer"] = Issuer,
            ["auth:jwt:audience"] = Audience,
            ["auth:jwt:jwks"] = jwks,
            ["auth:jwt:teamClaim"] = "team",
            ["auth:jwt:modelsClaim"] = "models",
        };
        foreach (var (k, v) in extra ?? [])
        {
            config[k] = v;
        }

        return (await GatewayHarness.StartAsync(config, configureServices), master);
    }

    private static CallOptions As(string bearer) => new(headers: new Metadata { { "authorization", "Bearer " + bearer } });

    private static async Task CreateTeamAsync(GatewayHarness gateway, string master, string id = TeamId, Limits? limits = null)
        => await new AdminService.AdminServiceClient(gateway.Channel).CreateTeamAsync(new CreateTeamRequest { Team = new Team { Id = id, Name = id, Limits = limits ?? new Limits() } }, As(master)).ResponseAsync;

    private static CompletionRequest Fast(string model = "sim-small")
    {
        var request = GatewayHarness.Request(model, 4);
        request.Metadata["sim.ttft_ms"] = "0";
        request.Metadata["sim.tokens_per_second"] = "0";
        return request;
    }

    private static async Task<(HttpStatusCode Status, string Body)> RestChatAsync(GatewayHarness gateway, string bearer, string model = "sim-small")
    {
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("{\"model\":\"" + model + "\",\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"metadata\":{\"sim.ttft_ms\":\"0\",\"sim.tokens_per_second\":\"0\"}}", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static async Task<LedgerEntry[]> LedgerRowsAsync(GatewayHarness gateway, string keyId)
    {
        await gateway.Service<LedgerWriter>().FlushAsync();
        return ((InMemoryGovernanceStore)gateway.Service<IGovernanceStore>()).Ledger.Where(r => r.KeyId == keyId).ToArray();
    }

    // ---- tests -----------------------------------------------------------------------------

    [Fact]
    public void LooksLikeJwt_ThreeBase64UrlSegments_VirtualKeysNot()
    {
        Assert.True(JwtAuthenticator.LooksLikeJwt("eyJh.eyJz.c2ln"));
        Assert.True(JwtAuthenticator.LooksLikeJwt("eyJh.eyJz."));
        Assert.False(JwtAuthenticator.LooksLikeJwt(ApiKeys.Generate().Key));
        Assert.False(JwtAuthenticator.LooksLikeJwt("a.b"));
        Assert.False(JwtAuthenticator.LooksLikeJwt("a.b.c.d.e"));
        Assert.False(JwtAuthenticator.LooksLikeJwt(".b.c"));
        Assert.False(JwtAuthenticator.LooksLikeJwt("a+b.c.d"));
        Assert.False(JwtAuthenticator.LooksLikeJwt(null));
    }

    [Fact]
    public async Task Jwt_FileJwks_RsaAndEcTokens_RunAsMappedTeam_OnGrpcAndRest_LedgerRecordsTeamAndSubject()
    {
        var (gateway, master) = await StartAsync("file:" + WriteJwks(Jwks(RsaJwk(_rsa, "rsa-1"), EcJwk(_ec, "ec-1"))));
        await using var _g = gateway;
        await CreateTeamAsync(gateway, master);

        // Models as a JSON array (RSA) and as a space-separated string (EC).
        var alice = Sign(Rs256(_rsa, "rsa-1"), Claims("alice", models: new[] { "sim-small" }));
        var bob = Sign(Es256(_ec, "ec-1"), Claims("bob", models: "sim-small sim-large"));

        Assert.NotEmpty((await gateway.CompleteAsync(Fast(), As(alice))).Message.Content);
        Assert.NotEmpty((await gateway.CompleteAsync(Fast("sim-large"), As(bob))).Message.Content);
        var (status, body) = await RestChatAsync(gateway, alice);
        Assert.True(status == HttpStatusCode.OK, body);

        var aliceRows = await LedgerRowsAsync(gateway, "jwt:alice");
        Assert.Equal(2, aliceRows.Length);
        Assert.All(aliceRows, r => Assert.Equal(TeamId, r.TeamId));
        Assert.Equal(["grpc", "rest"], aliceRows.Select(r => r.Route).Order(StringComparer.Ordinal).ToArray());
        var bobRow = Assert.Single(await LedgerRowsAsync(gateway, "jwt:bob"));
        Assert.Equal(TeamId, bobRow.TeamId);
        Assert.Equal("sim-large", bobRow.Model);

        // The model listing honours the token's models claim too.
        var models = await new Models.ModelsClient(gateway.Channel).ListModelsAsync(new ListModelsRequest(), As(alice)).ResponseAsync;
        Assert.Equal(["sim-small"], models.Models.Select(m => m.Id).ToArray());
    }

    [Fact]
    public async Task Jwt_Invalid_UnauthenticatedOnGrpc_401OnRest_SayingWhy_NeverEchoingOrLoggingTheToken()
    {
        var logs = new CapturingLoggerProvider();
        var (gateway, master) = await StartAsync(
            "file:" + WriteJwks(Jwks(RsaJwk(_rsa, "rsa-1"), EcJwk(_ec, "ec-1"))),
            new Dictionary<string, string?> { ["logLevel"] = "Debug" },
            s => s.AddSingleton<ILoggerProvider>(logs));
        await using var _g = gateway;
        await CreateTeamAsync(gateway, master);
        using var stranger = RSA.Create(2048);

        var cases = new (string Name, string Token, string Expected)[]
        {
            ("expired", Sign(Rs256(_rsa, "rsa-1"), Claims("alice"), expires: DateTime.UtcNow.AddMinutes(-5), notBefore: DateTime.UtcNow.AddMinutes(-20)), "expired"),
            ("not yet valid", Sign(Rs256(_rsa, "rsa-1"), Claims("alice"), notBefore: DateTime.UtcNow.AddMinutes(5), expires: DateTime.UtcNow.AddMinutes(20)), "not valid before"),
            ("wrong audience", Sign(Rs256(_rsa, "rsa-1"), Claims("alice"), audience: "someone-else"), "wrong audience"),
            ("wrong issuer", Sign(Rs256(_rsa, "rsa-1"), Claims("alice"), issuer: "https://evil.test/"), "wrong issuer"),
            ("bad signature", Sign(Rs256(stranger, "rsa-1"), Claims("alice")), "bad signature"),
            ("bad EC signature", Sign(Es256(ECDsa.Create(ECCurve.NamedCurves.nistP256), "ec-1"), Claims("alice")), "bad signature"),
            ("unknown kid", Sign(Rs256(stranger, "rsa-9"), Claims("alice")), "unknown signing key"),
            ("alg none", Unsigned("alice"), "alg 'none'"),
            ("HS256", Sign(new SigningCredentials(new SymmetricSecurityKey(RandomNumberGenerator.GetBytes(32)) { KeyId = "rsa-1" }, SecurityAlgorithms.HmacSha256), Claims("alice")), "'HS256' is not accepted"),
            ("unknown team", Sign(Rs256(_rsa, "rsa-1"), Claims("alice", team: "no-such-team")), "not a team of this gateway"),
            ("no team claim", Sign(Rs256(_rsa, "rsa-1"), Claims("alice", team: null)), "no 'team' claim"),
            ("malformed", "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln", "malformed"),
        };

        foreach (var (name, token, expected) in cases)
        {
            var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(Fast(), As(token)));
            Assert.True(ex.StatusCode == StatusCode.Unauthenticated, $"{name}: {ex.StatusCode} {ex.Status.Detail}");
            Assert.True(ex.Status.Detail.Contains(expected, StringComparison.Ordinal), $"{name}: '{ex.Status.Detail}' lacks '{expected}'");
            Assert.Equal("invalid_token", ex.Trailers.GetValue("gateway-error-kind"));
            Assert.DoesNotContain(token, ex.Status.Detail, StringComparison.Ordinal);

            var (status, body) = await RestChatAsync(gateway, token);
            Assert.True(status == HttpStatusCode.Unauthorized, $"{name}: REST {(int)status} {body}");
            Assert.Contains(expected, body, StringComparison.Ordinal);
            Assert.DoesNotContain(token, body, StringComparison.Ordinal);
        }

        Assert.Contains(logs.Lines, l => l.Contains("Bearer JWT refused", StringComparison.Ordinal));
        foreach (var (_, token, _) in cases)
        {
            // Neither the whole token nor its signature (the part that makes it usable) is logged.
            var signature = token[(token.LastIndexOf('.') + 1)..];
            Assert.DoesNotContain(logs.Lines, l => l.Contains(token, StringComparison.Ordinal) || (signature.Length > 0 && l.Contains(signature, StringComparison.Ordinal)));
        }

        // The same valid token passes, so the refusals above were about the defects.
        Assert.NotNull(await gateway.CompleteAsync(Fast(), As(Sign(Rs256(_rsa, "rsa-1"), Claims("alice")))));
    }

    [Fact]
    public async Task Jwt_ModelNotInClaim_PermissionDenied_OnGrpcAnd403OnRest()
    {
        var (gateway, master) = await StartAsync("file:" + WriteJwks(Jwks(RsaJwk(_rsa, "rsa-1"))));
        await using var _g = gateway;
        await CreateTeamAsync(gateway, master);
        var token = Sign(Rs256(_rsa, "rsa-1"), Claims("carol", models: new[] { "sim-small" }));
        var none = Sign(Rs256(_rsa, "rsa-1"), Claims("dave", models: Array.Empty<string>()));

        Assert.NotNull(await gateway.CompleteAsync(Fast("sim-small"), As(token)));
        var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(Fast("sim-large"), As(token)));
        Assert.Equal(StatusCode.PermissionDenied, ex.StatusCode);
        var (status, body) = await RestChatAsync(gateway, token, "sim-large");
        Assert.True(status == HttpStatusCode.Forbidden, body);

        // A models claim that is present but empty allows no model.
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(Fast("sim-small"), As(none)))).StatusCode);
    }

    [Fact]
    public async Task Jwt_TeamLimitsAndAllowList_Apply()
    {
        var (gateway, master) = await StartAsync("file:" + WriteJwks(Jwks(EcJwk(_ec, "ec-1"))));
        await using var _g = gateway;
        await new AdminService.AdminServiceClient(gateway.Channel).CreateTeamAsync(
            new CreateTeamRequest { Team = new Team { Id = TeamId, Name = "limited", AllowedModels = { "sim-small" }, Limits = new Limits { RequestsPerMinute = 2 } } }, As(master)).ResponseAsync;
        var token = Sign(Es256(_ec, "ec-1"), Claims("erin"));

        // No models claim: the team's allow-list decides.
        var denied = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(Fast("sim-large"), As(token)));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);

        await gateway.CompleteAsync(Fast(), As(token));
        await gateway.CompleteAsync(Fast(), As(Sign(Es256(_ec, "ec-1"), Claims("frank"))));
        var limited = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(Fast(), As(token)));
        Assert.Equal(StatusCode.ResourceExhausted, limited.StatusCode);
        Assert.Contains("team", limited.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VirtualKeys_AndMasterKey_StillWork_BesideJwt()
    {
        var (gateway, master) = await StartAsync("file:" + WriteJwks(Jwks(RsaJwk(_rsa, "rsa-1"))));
        await using var _g = gateway;
        await CreateTeamAsync(gateway, master);
        var created = await new AdminService.AdminServiceClient(gateway.Channel).CreateKeyAsync(new CreateKeyRequest { Key = new Key { Name = "svc", TeamId = TeamId } }, As(master)).ResponseAsync;

        Assert.NotNull(await gateway.CompleteAsync(Fast(), As(created.Secret)));
        var (status, body) = await RestChatAsync(gateway, created.Secret);
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.NotNull(await gateway.CompleteAsync(Fast(), As(Sign(Rs256(_rsa, "rsa-1"), Claims("gina")))));

        var rows = await LedgerRowsAsync(gateway, created.Key.Id);
        Assert.Equal(2, rows.Length);
        Assert.All(rows, r => Assert.Equal(TeamId, r.TeamId));

        // A bad virtual key is still refused as a key, not as a token.
        var bad = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(Fast(), As("gw-AAAAAAAA_notakey")));
        Assert.Equal(StatusCode.Unauthenticated, bad.StatusCode);
        Assert.Contains("API key", bad.Status.Detail, StringComparison.Ordinal);

        // JWTs configured: keys are required even without requireKeys (no anonymous calls).
        var missing = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(Fast()));
        Assert.Equal(StatusCode.Unauthenticated, missing.StatusCode);

        // A JWT caller is never an admin.
        var admin = await Assert.ThrowsAsync<RpcException>(() => new AdminService.AdminServiceClient(gateway.Channel).ListKeysAsync(new ListKeysRequest(), As(Sign(Rs256(_rsa, "rsa-1"), Claims("gina")))).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, admin.StatusCode);
    }

    [Fact]
    public async Task Jwt_UrlJwks_FetchedAndCached_UnavailableUntilLoaded_RotationRefreshesOnUnknownKid_RateLimited()
    {
        using var rsa2 = RSA.Create(2048);
        var jwks = new JwksServer();
        await using var _s = jwks;
        await jwks.StartAsync();
        jwks.Fail = true;
        var (gateway, master) = await StartAsync(jwks.Url, new Dictionary<string, string?> { ["auth:jwt:minRefreshSeconds"] = "1" });
        await using var _g = gateway;
        await CreateTeamAsync(gateway, master);
        var first = Sign(Rs256(_rsa, "k1"), Claims("hank"));

        // The JWKS endpoint is down and nothing is cached: UNAVAILABLE (a server-side problem), not a verdict on the token.
        var down = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(Fast(), As(first)));
        Assert.Equal(StatusCode.Unavailable, down.StatusCode);
        Assert.Contains("signing keys could not be loaded", down.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(1, jwks.Hits);

        jwks.Fail = false;
        jwks.Json = Jwks(RsaJwk(_rsa, "k1"));
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        Assert.NotNull(await gateway.CompleteAsync(Fast(), As(first)));
        Assert.Equal(2, jwks.Hits);

        // Cached: more calls, no more fetches.
        for (var i = 0; i < 5; i++)
        {
            Assert.NotNull(await gateway.CompleteAsync(Fast(), As(Sign(Rs256(_rsa, "k1"), Claims("hank")))));
        }

        Assert.Equal(2, jwks.Hits);

        // The issuer rotates to k2 (and drops k1). A token signed with k2 makes the gateway fetch again.
        jwks.Json = Jwks(RsaJwk(rsa2, "k2"));
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        Assert.NotNull(await gateway.CompleteAsync(Fast(), As(Sign(Rs256(rsa2, "k2"), Claims("hank")))));
        Assert.Equal(3, jwks.Hits);

        // A burst of tokens with an unknown kid right after: refused, and at most one more fetch.
        var unknown = Sign(Rs256(rsa2, "k9"), Claims("hank"));
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(Fast(), As(unknown)));
            Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);
            Assert.Contains("unknown signing key", ex.Status.Detail, StringComparison.Ordinal);
        }));
        Assert.InRange(jwks.Hits, 3, 4);

        // k1 is gone from the set: its tokens are refused now.
        var old = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(Fast(), As(first)));
        Assert.Equal(StatusCode.Unauthenticated, old.StatusCode);
        Assert.Contains("unknown signing key", old.Status.Detail, StringComparison.Ordinal);

        // REST sees the same keys.
        var (status, body) = await RestChatAsync(gateway, Sign(Rs256(rsa2, "k2"), Claims("hank")));
        Assert.True(status == HttpStatusCode.OK, body);
        var rows = await LedgerRowsAsync(gateway, "jwt:hank");
        Assert.Equal(8, rows.Count(r => r.Status == "OK"));
        Assert.All(rows, r => Assert.Equal(TeamId, r.TeamId));
    }

    [Fact]
    public void JwtConfig_Invalid_FailsStartUp_NamingEachKey()
    {
        var ex = Assert.Throws<GatewayConfigurationException>(() => GatewayApp.Build([], new Dictionary<string, string?>
        {
            ["store:kind"] = "memory",
            ["auth:jwt:jwks"] = "file:" + Path.Combine(_dir, "missing.json"),
            ["auth:jwt:clockSkewSeconds"] = "900",
            ["auth:jwt:algorithms:0"] = "HS256",
        }));
        Assert.Contains("auth:jwt:issuer: is required", ex.Message, StringComparison.Ordinal);
        Assert.Contains("auth:jwt:audience: is required", ex.Message, StringComparison.Ordinal);
        Assert.Contains("missing.json' does not exist", ex.Message, StringComparison.Ordinal);
        Assert.Contains("auth:jwt:clockSkewSeconds: must be 0-300", ex.Message, StringComparison.Ordinal);
        Assert.Contains("auth:jwt:algorithms:0: 'HS256' is not accepted", ex.Message, StringComparison.Ordinal);

        var remote = Assert.Throws<GatewayConfigurationException>(() => GatewayApp.Build([], new Dictionary<string, string?>
        {
            ["store:kind"] = "memory",
            ["auth:jwt:issuer"] = Issuer,
            ["auth:jwt:audience"] = Audience,
            ["auth:jwt:jwks"] = "http://idp.example.com/jwks",
        }));
        Assert.Contains("plain http to a remote host", remote.Message, StringComparison.Ordinal);

        var notJwks = Assert.Throws<GatewayConfigurationException>(() => GatewayApp.Build([], new Dictionary<string, string?>
        {
            ["store:kind"] = "memory",
            ["auth:jwt:issuer"] = Issuer,
            ["auth:jwt:audience"] = Audience,
            ["auth:jwt:jwks"] = "file:" + WriteJwks("""{"keys":[]}"""),
        }));
        Assert.Contains("no usable signing key", notJwks.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JwtConfig_FromYaml_Binds()
    {
        var jwksPath = WriteJwks(Jwks(RsaJwk(_rsa, "rsa-1")));
        var yaml = Path.Combine(_dir, "gateway.yaml");
        File.WriteAllText(yaml, $"""
            store:
              kind: memory
            auth:
              jwt:
                issuer: {Issuer}
                audiences: [{Audience}, other-audience]
                jwks: file:{jwksPath}
                subjectClaim: email
                clockSkewSeconds: 10
            """);
        var app = GatewayApp.Build(["--config", yaml, "--grpcAddress", "127.0.0.1:0", "--httpAddress", "127.0.0.1:0"]);
        await using var _a = app;
        var jwt = app.Services.GetRequiredService<JwtAuthenticator>();
        var claims = new Dictionary<string, object> { ["email"] = "ivy@example.com" };
        var result = await jwt.AuthenticateAsync(Sign(Rs256(_rsa, "rsa-1"), claims, audience: "other-audience"), CancellationToken.None);
        Assert.True(result.Principal is not null, result.Error);
        Assert.Equal("jwt:ivy@example.com", result.Principal!.KeyId);
        Assert.Null(result.Principal.TeamId);
        Assert.Equal(PrincipalKind.Jwt, result.Principal.Kind);
    }

    [Fact]
    public async Task JwksProvider_RefreshesInBackgroundWhenOld_AndOnUnknownKidAtMostOncePerInterval()
    {
        var path = WriteJwks(Jwks(RsaJwk(_rsa, "k1")));
        var time = new ManualTime();
        var settings = new JwtSettings { Issuer = Issuer, Audiences = [Audience], Jwks = "file:" + path, RefreshInterval = TimeSpan.FromHours(1), MinRefreshInterval = TimeSpan.FromSeconds(30) };
        using var provider = new JwksProvider(settings, null, time, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

        Assert.Equal(["k1"], (await provider.GetAsync("k1", CancellationToken.None))!.Kids);
        Assert.Equal(1, provider.Fetches);

        // An unknown kid within the interval after the last fetch: no fetch.
        File.WriteAllText(path, Jwks(RsaJwk(_rsa, "k1"), EcJwk(_ec, "k2")));
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.DoesNotContain("k2", (await provider.GetAsync("k2", CancellationToken.None))!.Kids);
        Assert.Equal(1, provider.Fetches);

        // Past the interval: one fetch, and the new key is there.
        time.Advance(TimeSpan.FromSeconds(25));
        Assert.Contains("k2", (await provider.GetAsync("k2", CancellationToken.None))!.Kids);
        Assert.Equal(2, provider.Fetches);

        // Older than the refresh interval: the current keys answer at once, a background fetch replaces them.
        File.WriteAllText(path, Jwks(EcJwk(_ec, "k3")));
        time.Advance(TimeSpan.FromHours(2));
        Assert.Contains("k1", (await provider.GetAsync("k1", CancellationToken.None))!.Kids);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (provider.Fetches < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(3, provider.Fetches);
        Assert.Equal(["k3"], (await provider.GetAsync(null, CancellationToken.None))!.Kids);

        // A broken file keeps the keys loaded before.
        File.WriteAllText(path, "not json");
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(["k3"], (await provider.GetAsync("k4", CancellationToken.None))!.Kids);
        Assert.Equal(4, provider.Fetches);
    }

    /// <summary>A clock the test moves by hand.</summary>
    private sealed class ManualTime : TimeProvider
    {
        private long _ticks = TimeSpan.TicksPerDay;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }

    /// <summary>A JWKS endpoint on Kestrel whose document and health the test changes, counting fetches.</summary>
    private sealed class JwksServer : IAsyncDisposable
    {
        private WebApplication? _app;
        private int _hits;

        public volatile string Json = """{"keys":[]}""";
        public volatile bool Fail;

        public int Hits => Volatile.Read(ref _hits);

        public string Url { get; private set; } = "";

        public async Task StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            _app = builder.Build();
            _app.MapGet("/.well-known/jwks.json", (HttpContext context) =>
            {
                Interlocked.Increment(ref _hits);
                return Fail ? Results.StatusCode(500) : Results.Text(Json, "application/json");
            });
            await _app.StartAsync();
            Url = _app.Urls.First() + "/.well-known/jwks.json";
        }

        public async ValueTask DisposeAsync()
        {
            if (_app is not null)
            {
                await _app.DisposeAsync();
            }
        }
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public IReadOnlyCollection<string> Lines => _lines;

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => owner._lines.Enqueue(category + ": " + formatter(state, exception) + (exception is null ? "" : " " + exception));
        }
    }
}
