using System.Net;
using System.Net.Http.Json;
using Gateway.Grpc.Console.Internal;
using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Gateway.Grpc.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Grpc.Console.Tests;

/// <summary>When the console is on, session expiry on a fake clock, and the CSV export's escaping.</summary>
public sealed class ConsoleConfigurationTests
{
    [Fact]
    public async Task OpenDevModeOnLoopback_ConsoleOnByDefault_SignInWithoutKey()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?>());
        using var client = Client(host.App);
        using (var login = await client.GetAsync("/ui/login"))
        {
            Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        }

        using var response = await ConsoleGatewayFixture.SignInAsync(client, "");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("open-dev-mode", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MasterKeySet_ConsoleOffUnlessEnabled()
    {
        Environment.SetEnvironmentVariable("CONSOLE_CFG_MASTER", "mk-cfg-1");
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["auth:masterKey"] = "env:CONSOLE_CFG_MASTER" });
        using var client = Client(host.App);
        using var login = await client.GetAsync("/ui/login");
        Assert.Equal(HttpStatusCode.NotFound, login.StatusCode);
        using var api = await client.GetAsync("/ui/api/spend");
        Assert.Equal(HttpStatusCode.NotFound, api.StatusCode);
    }

    [Fact]
    public async Task RefusedSignIns_FromOneAddress_AreThrottled_TheRightKeyIncluded_UntilTheWindowEnds()
    {
        Environment.SetEnvironmentVariable("CONSOLE_THROTTLE_MASTER", "mk-throttle-1");
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["auth:masterKey"] = "env:CONSOLE_THROTTLE_MASTER",
            ["console:enabled"] = "true",
            ["console:signInMaxFailures"] = "3",
            ["console:signInWindowMinutes"] = "5",
        });
        using var client = Client(host.App);

        // A right key before any refusal signs in, and is not counted.
        Assert.Equal(HttpStatusCode.OK, await SignInStatusAsync(client, "mk-throttle-1"));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await SignInStatusAsync(client, "wrong-" + i));
        }

        // The allowance is spent: wrong and right keys alike answer 429 with Retry-After.
        foreach (var key in new[] { "wrong-again", "mk-throttle-1" })
        {
            using var response = await ConsoleGatewayFixture.SignInAsync(client, key);
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            Assert.False(response.Headers.Contains("Set-Cookie"));
            var retryAfter = response.Headers.RetryAfter?.Delta;
            Assert.NotNull(retryAfter);
            Assert.InRange(retryAfter!.Value.TotalSeconds, 1, 300);
            Assert.Contains("Too many refused sign-ins", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // The gateway's other doors are not affected by the console's throttle.
        using var health = await client.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Theory]
    [InlineData("console:signInMaxFailures", "0")]
    [InlineData("console:signInWindowMinutes", "0")]
    public void SignInThrottle_OutOfRange_FailsStartUp_NamingTheKey(string key, string value)
    {
        var ex = Assert.Throws<GatewayConfigurationException>(() => GatewayApp.Build([], new Dictionary<string, string?>
        {
            [key] = value,
            ["httpAddress"] = "127.0.0.1:0",
            ["grpcAddress"] = "127.0.0.1:0",
            ["store:kind"] = "memory",
        }));
        Assert.Contains(key, ex.Message, StringComparison.Ordinal);
    }

    private static async Task<HttpStatusCode> SignInStatusAsync(HttpClient client, string key)
    {
        using var response = await ConsoleGatewayFixture.SignInAsync(client, key);
        return response.StatusCode;
    }

    [Fact]
    public void EnabledWithoutMasterKeyOffLoopback_FailsStartUp_NamingTheKey()
    {
        var ex = Assert.Throws<GatewayConfigurationException>(() => GatewayApp.Build([], new Dictionary<string, string?>
        {
            ["console:enabled"] = "true",
            ["httpAddress"] = "0.0.0.0:0",
            ["grpcAddress"] = "127.0.0.1:0",
            ["store:kind"] = "memory",
        }));
        Assert.Contains("console:enabled", ex.Message, StringComparison.Ordinal);
        Assert.Contains("auth:masterKey", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Session_EndsAfterIdleTimeout_OnTheGatewayClock()
    {
        Environment.SetEnvironmentVariable("CONSOLE_CFG_MASTER2", "mk-cfg-2");
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var app = GatewayApp.Build([], new Dictionary<string, string?>
        {
            ["grpcAddress"] = "127.0.0.1:0",
            ["httpAddress"] = "127.0.0.1:0",
            ["store:kind"] = "memory",
            ["logLevel"] = "Warning",
            ["auth:masterKey"] = "env:CONSOLE_CFG_MASTER2",
            ["console:enabled"] = "true",
            ["console:sessionIdleMinutes"] = "10",
        }, services => services.AddSingleton<TimeProvider>(clock));
        await app.StartAsync();
        try
        {
            using var client = Client(app);
            using var signIn = new HttpRequestMessage(HttpMethod.Post, "/ui/api/session") { Content = JsonContent.Create(new { key = "mk-cfg-2" }) };
            signIn.Headers.Add("X-Requested-With", "gateway-console");
            using var response = await client.SendAsync(signIn);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var cookie = response.Headers.GetValues("Set-Cookie").Single().Split(';')[0];

            clock.Advance(TimeSpan.FromMinutes(9));
            Assert.Equal(HttpStatusCode.OK, await GetAsync(client, cookie));
            // Used at minute 9, so it lives to minute 19.
            clock.Advance(TimeSpan.FromMinutes(9));
            Assert.Equal(HttpStatusCode.OK, await GetAsync(client, cookie));
            clock.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
            Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(client, cookie));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("say \"hi\"", "\"say \"\"hi\"\"\"")]
    [InlineData("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"")]
    [InlineData("+1", "'+1")]
    [InlineData("@sum", "'@sum")]
    [InlineData(null, "")]
    public void CsvField_QuotesAndNeutralisesFormulas(string? value, string expected)
        => Assert.Equal(expected, SpendReport.Field(value));

    [Theory]
    [InlineData("2026-01-01", "week", "2026-W01")]
    [InlineData("2027-01-01", "week", "2026-W53")]
    [InlineData("2026-12-04", "month", "2026-12")]
    [InlineData("2026-12-04", "day", "2026-12-04")]
    public void Buckets_AreIsoWeeksMonthsOrDays(string day, string bucket, string expected)
        => Assert.Equal(expected, SpendReport.BucketOf(DateTime.Parse(day, System.Globalization.CultureInfo.InvariantCulture), bucket));

    private static async Task<HttpStatusCode> GetAsync(HttpClient client, string cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/ui/api/session");
        request.Headers.Add("Cookie", cookie);
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    private static HttpClient Client(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
        return new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = new Uri(addresses[1]) };
    }
}
