using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Console.Tests;

/// <summary>The console over plain HTTP: refusal without a session, the cookie's attributes, CSRF, admin-scoped keys.</summary>
[Collection("Console")]
public sealed class ConsoleHttpTests(ConsoleGatewayFixture gateway)
{
    /// <summary>Routes that are public by design: the sign-in page and call, and the static assets.</summary>
    private static readonly HashSet<string> Public = ["GET /ui/login", "GET /ui/assets/{**path}", "POST /ui/api/session"];

    [Fact]
    public async Task EveryConsoleRoute_WithoutASession_IsRefused()
    {
        var routes = ConsoleRoutes();
        // The list comes from the running app, so a new endpoint is covered without touching this test;
        // these must be among them, or the enumeration is broken.
        foreach (var expected in new[] { "GET /ui/{page}", "GET /ui/api/spend", "GET /ui/api/spend.csv", "GET /ui/api/traffic", "GET /ui/api/keys", "POST /ui/api/keys", "PATCH /ui/api/keys/{id}", "POST /ui/api/keys/{id}/revoke", "POST /ui/api/keys/{id}/rotate", "GET /ui/api/teams", "POST /ui/api/teams", "PATCH /ui/api/teams/{id}", "GET /ui/api/models", "GET /ui/api/session", "DELETE /ui/api/session" })
        {
            Assert.Contains(expected, routes);
        }

        using var client = gateway.Client();
        var checkedRoutes = 0;
        foreach (var route in routes.Where(r => !Public.Contains(r)))
        {
            var method = route[..route.IndexOf(' ', StringComparison.Ordinal)];
            var path = route[(method.Length + 1)..].Replace("{page}", "spend", StringComparison.Ordinal).Replace("{id}", "key_0", StringComparison.Ordinal);
            foreach (var cookie in new[] { null, "gw_console=forged-session-id" })
            {
                using var request = new HttpRequestMessage(new HttpMethod(method), path);
                request.Headers.Add("X-Requested-With", "gateway-console");
                if (cookie is not null)
                {
                    request.Headers.Add("Cookie", cookie);
                }

                if (method is "POST" or "PATCH")
                {
                    request.Content = JsonContent.Create(new { name = "x" });
                }

                using var response = await client.SendAsync(request);
                if (path.StartsWith("/ui/api/", StringComparison.Ordinal))
                {
                    Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{route} with cookie '{cookie}' answered {(int)response.StatusCode}");
                    Assert.DoesNotContain("key_", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
                }
                else
                {
                    Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"{route} with cookie '{cookie}' answered {(int)response.StatusCode}");
                    Assert.StartsWith("/ui/login", response.Headers.Location!.OriginalString, StringComparison.Ordinal);
                }

                checkedRoutes++;
            }
        }

        Assert.True(checkedRoutes >= 2 * 16, $"only {checkedRoutes} route checks ran");

        // Every page the console has is refused too (the {page} route above stands for them).
        foreach (var page in new[] { "/ui", "/ui/spend", "/ui/keys", "/ui/traffic", "/ui/playground" })
        {
            using var response = await client.GetAsync(page);
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        }
    }

    [Fact]
    public async Task SignIn_MasterKey_SetsHttpOnlySameSiteStrictCookieScopedToUi()
    {
        using var client = gateway.Client();
        using var response = await ConsoleGatewayFixture.SignInAsync(client, gateway.MasterKey);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var setCookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        var attributes = setCookie.Split(';', StringSplitOptions.TrimEntries).Skip(1).Select(a => a.ToLowerInvariant()).ToList();
        Assert.Contains("httponly", attributes);
        Assert.Contains("samesite=strict", attributes);
        Assert.Contains("path=/ui", attributes);
        // Plain HTTP here; Secure is set when the request came over TLS (below).
        Assert.DoesNotContain("secure", attributes);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("master", body.GetProperty("who").GetString());
        Assert.DoesNotContain(gateway.MasterKey, setCookie, StringComparison.Ordinal);
    }

    [Fact]
    public void CookieOptions_OverTls_AreSecure()
    {
        var context = new DefaultHttpContext();
        context.Request.Scheme = "https";
        var options = Internal.ConsoleEndpoints.CookieOptions(context);
        Assert.True(options.Secure);
        Assert.True(options.HttpOnly);
        Assert.Equal(SameSiteMode.Strict, options.SameSite);
        context.Request.Scheme = "http";
        Assert.False(Internal.ConsoleEndpoints.CookieOptions(context).Secure);
    }

    [Fact]
    public async Task SignIn_WithoutTheConsoleHeader_OrFromAnotherOrigin_IsRefused()
    {
        using var client = gateway.Client();
        using (var noHeader = new HttpRequestMessage(HttpMethod.Post, "/ui/api/session") { Content = JsonContent.Create(new { key = gateway.MasterKey }) })
        using (var response = await client.SendAsync(noHeader))
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.False(response.Headers.Contains("Set-Cookie"));
        }

        using var crossSite = new HttpRequestMessage(HttpMethod.Post, "/ui/api/session") { Content = JsonContent.Create(new { key = gateway.MasterKey }) };
        crossSite.Headers.Add("X-Requested-With", "gateway-console");
        crossSite.Headers.Add("Origin", "https://evil.example");
        using var refused = await client.SendAsync(crossSite);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.False(refused.Headers.Contains("Set-Cookie"));

        using var wrong = await ConsoleGatewayFixture.SignInAsync(client, "gw-AAAAAAAA_not-a-real-key");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.False(wrong.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task StateChangingRequest_WithoutOrWithWrongCsrfToken_IsRefused_AndChangesNothing()
    {
        using var client = gateway.Client();
        var (cookie, csrf) = await SessionAsync(client, gateway.MasterKey);
        var before = await KeyCountAsync(client, cookie);
        var name = "csrf-" + Guid.NewGuid().ToString("N")[..8];

        foreach (var token in new[] { null, "", "wrong-token", csrf + "x" })
        {
            using var request = Request(HttpMethod.Post, "/ui/api/keys", cookie, token, new { name });
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        // Sign-out is state-changing too.
        using (var signOut = Request(HttpMethod.Delete, "/ui/api/session", cookie, null))
        using (var response = await client.SendAsync(signOut))
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        Assert.Equal(before, await KeyCountAsync(client, cookie));

        using var accepted = Request(HttpMethod.Post, "/ui/api/keys", cookie, csrf, new { name });
        using var created = await client.SendAsync(accepted);
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        Assert.StartsWith("gw-", (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("secret").GetString(), StringComparison.Ordinal);
        Assert.Equal(before + 1, await KeyCountAsync(client, cookie));
    }

    [Fact]
    public async Task AdminScopedKey_SignsIn_AndUsesTheAdminApi_PlainKeyDoesNot_RevocationEndsItsSession()
    {
        using var client = gateway.Client();
        var (cookie, csrf) = await SessionAsync(client, gateway.MasterKey);
        var plain = await CreateKeyAsync(client, cookie, csrf, new { name = "plain" });
        var admin = await CreateKeyAsync(client, cookie, csrf, new { name = "ops", metadata = new Dictionary<string, string> { ["scope"] = "admin" } });

        using (var refused = await ConsoleGatewayFixture.SignInAsync(client, plain.Secret))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        // The admin API (JSON transcoding) takes the admin-scoped key, not the plain one.
        Assert.Equal(HttpStatusCode.OK, await AdminApiStatusAsync(client, admin.Secret));
        Assert.Equal(HttpStatusCode.Forbidden, await AdminApiStatusAsync(client, plain.Secret));

        var (adminCookie, adminCsrf) = await SessionAsync(client, admin.Secret);
        using (var me = Request(HttpMethod.Get, "/ui/api/session", adminCookie, null))
        using (var response = await client.SendAsync(me))
        {
            Assert.Equal(admin.Id, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("who").GetString());
        }

        // An action through the admin-scoped session is audited under that key's id.
        var made = await CreateKeyAsync(client, adminCookie, adminCsrf, new { name = "made-by-ops" });
        Assert.Contains(gateway.AuditRecords(), r => r.GetProperty("action").GetString() == "create_key"
            && r.GetProperty("actor").GetString() == admin.Id
            && r.GetProperty("details").GetProperty("id").GetString() == made.Id);

        // Revoked (by the master's session): the admin-scoped key's session ends at its next request.
        using (var revoke = Request(HttpMethod.Post, $"/ui/api/keys/{admin.Id}/revoke", cookie, csrf))
        using (var response = await client.SendAsync(revoke))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var after = Request(HttpMethod.Get, "/ui/api/keys", adminCookie, null);
        using var afterResponse = await client.SendAsync(after);
        Assert.Equal(HttpStatusCode.Unauthorized, afterResponse.StatusCode);
    }

    [Fact]
    public async Task SignOut_EndsTheSession()
    {
        using var client = gateway.Client();
        var (cookie, csrf) = await SessionAsync(client, gateway.MasterKey);
        using (var signOut = Request(HttpMethod.Delete, "/ui/api/session", cookie, csrf))
        using (var response = await client.SendAsync(signOut))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        using var after = Request(HttpMethod.Get, "/ui/api/spend", cookie, null);
        using var afterResponse = await client.SendAsync(after);
        Assert.Equal(HttpStatusCode.Unauthorized, afterResponse.StatusCode);
    }

    [Fact]
    public async Task AdminErrors_KeepTheAdminApiStatusAndMessage()
    {
        using var client = gateway.Client();
        var (cookie, csrf) = await SessionAsync(client, gateway.MasterKey);
        using (var request = Request(HttpMethod.Post, "/ui/api/keys/key_missing/rotate", cookie, csrf))
        using (var response = await client.SendAsync(request))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains("key 'key_missing' not found", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var request = Request(HttpMethod.Post, "/ui/api/keys", cookie, csrf, new { name = "x", limits = new { requestsPerMinute = -1 } }))
        using (var response = await client.SendAsync(request))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("limits.requests_per_minute", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task OversizedOrMalformedBodies_Are400_NotErrors()
    {
        using var client = gateway.Client();
        using (var big = new HttpRequestMessage(HttpMethod.Post, "/ui/api/session") { Content = new StringContent("{\"key\":\"" + new string('a', 20_000) + "\"}", System.Text.Encoding.UTF8, "application/json") })
        {
            big.Headers.Add("X-Requested-With", "gateway-console");
            using var response = await client.SendAsync(big);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        var (cookie, csrf) = await SessionAsync(client, gateway.MasterKey);
        foreach (var body in new object[] { new { name = "x", notAField = 1 }, new { name = new string('n', 70_000) } })
        {
            using var request = Request(HttpMethod.Post, "/ui/api/keys", cookie, csrf, body);
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }
    }

    [Fact]
    public async Task Pages_CarryAContentSecurityPolicyAndRefuseFraming()
    {
        using var client = gateway.Client();
        var (cookie, _) = await SessionAsync(client, gateway.MasterKey);
        using var request = Request(HttpMethod.Get, "/ui/traffic", cookie, null);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
    }

    /// <summary>Method and route pattern of every endpoint under /ui, e.g. "GET /ui/api/spend".</summary>
    private List<string> ConsoleRoutes()
    {
        var routes = new List<string>();
        foreach (var source in gateway.Gateway.App.Services.GetRequiredService<IEnumerable<EndpointDataSource>>())
        {
            foreach (var endpoint in source.Endpoints.OfType<RouteEndpoint>())
            {
                var pattern = "/" + endpoint.RoutePattern.RawText!.TrimStart('/');
                if (pattern != "/ui" && !pattern.StartsWith("/ui/", StringComparison.Ordinal))
                {
                    continue;
                }

                foreach (var method in endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"])
                {
                    routes.Add(method + " " + pattern.TrimEnd('/'));
                }
            }
        }

        return routes.Distinct().ToList();
    }

    private static async Task<(string Cookie, string Csrf)> SessionAsync(HttpClient client, string key)
    {
        using var response = await ConsoleGatewayFixture.SignInAsync(client, key);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var cookie = response.Headers.GetValues("Set-Cookie").Single().Split(';')[0];
        var csrf = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("csrf").GetString()!;
        return (cookie, csrf);
    }

    private static HttpRequestMessage Request(HttpMethod method, string path, string cookie, string? csrf, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Add("Cookie", cookie);
        request.Headers.Add("X-Requested-With", "gateway-console");
        if (csrf is not null)
        {
            request.Headers.Add("X-Console-Csrf", csrf);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return request;
    }

    private static async Task<int> KeyCountAsync(HttpClient client, string cookie)
    {
        using var request = Request(HttpMethod.Get, "/ui/api/keys", cookie, null);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return body.TryGetProperty("keys", out var keys) ? keys.GetArrayLength() : 0;
    }

    private static async Task<(string Id, string Secret)> CreateKeyAsync(HttpClient client, string cookie, string csrf, object key)
    {
        using var request = Request(HttpMethod.Post, "/ui/api/keys", cookie, csrf, key);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (body.GetProperty("key").GetProperty("id").GetString()!, body.GetProperty("secret").GetString()!);
    }

    private static async Task<HttpStatusCode> AdminApiStatusAsync(HttpClient client, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/admin/keys");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }
}
