using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Gateway.Grpc.Console.Tests;

/// <summary>
/// The console in a real browser (Debian's chromium through Playwright) against a running gateway
/// and the provider simulator: sign in, keys, spend, live tail, revocation, the playground. Every
/// wait is for a condition in the page, bounded by <see cref="Timeout"/>; screenshots of each page
/// go to the test output folder and docs/console/.
/// </summary>
[Collection("Console")]
public sealed partial class ConsoleBrowserTests(ConsoleGatewayFixture gateway)
{
    private const float Timeout = 30_000;

    /// <summary>Text sent as a prompt; it must never appear in the console.</summary>
    private const string PromptMarker = "PROMPT-MARKER-7c1e9a";

    [Fact]
    public async Task SignIn_CreateKey_Calls_SpendAndTail_Revoke_Playground()
    {
        await using var context = await gateway.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = gateway.BaseAddress.ToString(), ViewportSize = new ViewportSize { Width = 1360, Height = 900 } });
        context.SetDefaultTimeout(Timeout);
        Assertions.SetDefaultExpectTimeout(Timeout);
        var page = await context.NewPageAsync();
        try
        {
            await ScenarioAsync(context, page);
        }
        catch
        {
            // What the page looked like when a step failed, for the test output only.
            var path = Path.Combine(AppContext.BaseDirectory, "screenshots", "failure.png");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
            throw;
        }
    }

    private async Task ScenarioAsync(IBrowserContext context, IPage page)
    {
        var pageErrors = new List<string>();
        page.PageError += (_, error) => pageErrors.Add(error);
        page.Dialog += (_, dialog) => dialog.AcceptAsync();

        // Not signed in: a page sends the browser to sign-in.
        await page.GotoAsync("/ui/spend");
        Assert.EndsWith("/ui/login?next=%2Fui%2Fspend", page.Url, StringComparison.Ordinal);

        // A wrong key is refused on the page.
        await page.FillAsync("#login-key", "not-the-master-key");
        await page.ClickAsync("#login-submit");
        await Assertions.Expect(page.Locator("#login-error")).ToContainTextAsync("not valid");
        await Screenshot(page, "login");

        // The master key signs in and lands where the browser was going.
        await page.FillAsync("#login-key", gateway.MasterKey);
        await page.ClickAsync("#login-submit");
        // Waited for by what the page shows (navigation events can be missed in a race with the check).
        await page.WaitForSelectorAsync("main[data-ready=true]");
        Assert.EndsWith("/ui/spend", page.Url, StringComparison.Ordinal);
        Assert.Equal("master", await page.TextContentAsync("#who"));
        var cookie = Assert.Single(await context.CookiesAsync(), c => c.Name == "gw_console");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        Assert.DoesNotContain(gateway.MasterKey, await page.ContentAsync(), StringComparison.Ordinal);

        // A team with a budget, then a key in it: its secret is shown once.
        await page.GotoAsync("/ui/keys");
        await page.WaitForSelectorAsync("main[data-ready=true]");
        var teamName = "payments-" + Guid.NewGuid().ToString("N")[..6];
        await page.FillAsync("#team-name", teamName);
        await page.FillAsync("#team-budget", "0.01");
        await page.ClickAsync("#team-create");
        await page.Locator("#teams-table tr", new PageLocatorOptions { HasText = teamName }).WaitForAsync();
        await page.Locator("#key-team").SelectOptionAsync(new SelectOptionValue { Label = teamName });
        var keyName = "console-e2e-" + Guid.NewGuid().ToString("N")[..6];
        await page.FillAsync("#key-name", keyName);
        await page.FillAsync("#key-budget", "0.0004");
        await page.ClickAsync("#key-create");
        var secret = (await page.Locator("#secret-value").TextContentAsync())!;
        Assert.Matches(SecretPattern(), secret);
        var keyRow = page.Locator($"#keys-table tr[data-key-name='{keyName}']");
        await keyRow.WaitForAsync();
        var keyId = (await keyRow.GetAttributeAsync("data-key-id"))!;
        await Assertions.Expect(keyRow.Locator(".status")).ToHaveTextAsync("active");
        await Screenshot(page, "keys");
        // Dismissed, or the page reloaded: the secret is nowhere (the gateway keeps only its hash).
        await page.ClickAsync("#secret-dismiss");
        await Assertions.Expect(page.Locator("#secret-value")).ToHaveCountAsync(0);
        await page.ReloadAsync();
        await page.WaitForSelectorAsync("main[data-ready=true]");
        await keyRow.WaitForAsync();
        Assert.DoesNotContain(secret, await page.ContentAsync(), StringComparison.Ordinal);

        // Limits edited through the console land on the key (and in the audit trail, below).
        await keyRow.Locator("button[data-action=limits]").ClickAsync();
        await page.FillAsync($"#edit-{keyId}-rpm", "120");
        await page.ClickAsync($"#edit-{keyId}-save");
        await Assertions.Expect(keyRow.Locator(".limits")).ToContainTextAsync("120 rpm");

        // The team's limits too.
        var teamRow = page.Locator("#teams-table tr", new PageLocatorOptions { HasText = teamName });
        var teamId = (await teamRow.GetAttributeAsync("data-team-id"))!;
        await teamRow.Locator("button[data-action=limits]").ClickAsync();
        await page.FillAsync($"#edit-{teamId}-rpm", "600");
        await page.ClickAsync($"#edit-{teamId}-save");
        await Assertions.Expect(teamRow.Locator(".limits")).ToContainTextAsync("600 rpm");
        await Assertions.Expect(teamRow.Locator(".limits")).ToContainTextAsync("$0.0100/month");

        // Calls with the new key; one to a model whose provider fails (an error class).
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(200, await gateway.CompleteAsync(secret, prompt: PromptMarker + " call " + i));
        }

        Assert.Equal(503, await gateway.CompleteAsync(secret, model: "flaky", prompt: PromptMarker));

        // The live tail shows the calls (metadata, never the prompt), the circuit states and the error classes.
        await page.GotoAsync("/ui/traffic");
        await page.WaitForSelectorAsync("main[data-ready=true]");
        var keyCalls = page.Locator($"#tail-body tr[data-key-id='{keyId}']");
        await Assertions.Expect(keyCalls).ToHaveCountAsync(4);
        await Assertions.Expect(page.Locator($"#tail-body tr[data-key-id='{keyId}'][data-status='OK']")).ToHaveCountAsync(3);
        var failed = page.Locator($"#tail-body tr[data-key-id='{keyId}'][data-status='UNAVAILABLE']");
        await Assertions.Expect(failed).ToContainTextAsync("flaky-openai");
        await Assertions.Expect(page.Locator("#deployments tr[data-deployment='chat-openai']")).ToHaveAttributeAsync("data-state", "healthy");
        await page.WaitForFunctionAsync("() => { const c = Chart.getChart('chart-errors'); return c && c.data.datasets.some(d => d.data.some(v => v > 0)); }");
        Assert.DoesNotContain(PromptMarker, await page.ContentAsync(), StringComparison.Ordinal);
        await Screenshot(page, "traffic");

        // The spend page counts the four calls (the ledger is written in batches: wait for it) and charts them.
        await page.GotoAsync("/ui/spend");
        await page.WaitForSelectorAsync("main[data-ready=true]");
        await page.WaitForFunctionAsync(
            "(keyId) => [...document.querySelectorAll('#by-key td:first-child code')].some(code => code.textContent === keyId)",
            keyId);
        await page.WaitForFunctionAsync("() => { const c = Chart.getChart('chart-spend'); return c && c.data.datasets[1].data.reduce((a, b) => a + b, 0) >= 4; }");
        var keyLine = page.Locator("#by-key tr", new PageLocatorOptions { HasText = keyId });
        await Assertions.Expect(keyLine.Locator("td").First).ToContainTextAsync(keyName);
        await Assertions.Expect(keyLine.Locator("td").Nth(1)).ToHaveTextAsync("4");
        await Assertions.Expect(keyLine.Locator("td").Nth(2)).ToHaveTextAsync("3");
        await Assertions.Expect(page.Locator("#by-deployment tr", new PageLocatorOptions { HasText = "chat-openai" })).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator($"[data-budget='key:{keyId}']")).ToContainTextAsync(keyName);
        await page.WaitForFunctionAsync("() => Chart.getChart('chart-mix') && Chart.getChart('chart-mix').data.labels.includes('chat')");
        var csv = await context.APIRequest.GetAsync("/ui/api/spend.csv?days=7");
        Assert.Equal(200, csv.Status);
        Assert.Contains("," + keyId + ",chat,chat-openai,3,3,", await csv.TextAsync(), StringComparison.Ordinal);
        await Screenshot(page, "spend");

        // Revoked from the console: the key's next call is refused.
        await page.GotoAsync("/ui/keys");
        await page.WaitForSelectorAsync("main[data-ready=true]");
        await keyRow.Locator("button[data-action=revoke]").ClickAsync();
        await Assertions.Expect(keyRow.Locator(".status")).ToHaveTextAsync("revoked");
        Assert.Equal(401, await gateway.CompleteAsync(secret));

        // The console's actions are in the audit trail, by whom and through what.
        var audit = gateway.AuditRecords();
        foreach (var action in new[] { "create_team", "update_team", "create_key", "update_key", "revoke_key" })
        {
            Assert.Contains(audit, r => r.GetProperty("action").GetString() == action
                && r.GetProperty("actor").GetString() == "master"
                && r.GetProperty("details").GetProperty("via").GetString() == "console");
        }

        Assert.DoesNotContain(audit, r => r.GetRawText().Contains(secret, StringComparison.Ordinal));

        // The playground streams an answer from the chat model with a fresh key.
        await page.FillAsync("#key-name", "playground-" + keyName);
        await page.ClickAsync("#key-create");
        var firstSecret = (await page.Locator("#secret-value").TextContentAsync())!;
        // Rotated from the console: a new secret, shown once; the old one stops working at once.
        var playgroundRow = page.Locator($"#keys-table tr[data-key-name='playground-{keyName}']");
        await playgroundRow.Locator("button[data-action=rotate]").ClickAsync();
        await Assertions.Expect(page.Locator("#secret-card h2")).ToContainTextAsync("Rotated key");
        var playgroundSecret = (await page.Locator("#secret-value").TextContentAsync())!;
        Assert.Matches(SecretPattern(), playgroundSecret);
        Assert.NotEqual(firstSecret, playgroundSecret);
        Assert.Equal(401, await gateway.CompleteAsync(firstSecret));
        await page.GotoAsync("/ui/playground");
        await page.WaitForSelectorAsync("main[data-ready=true]");
        await page.Locator("#pg-model").SelectOptionAsync("chat");
        await page.FillAsync("#pg-key", playgroundSecret);
        await page.FillAsync("#pg-max-tokens", "60");
        await page.ClickAsync("#pg-send");
        // Seen while streaming: some text, the stream not finished.
        await page.WaitForFunctionAsync("() => { const o = document.getElementById('pg-output'); return o.dataset.state === 'streaming' && Number(o.dataset.deltas) >= 1; }");
        await page.WaitForSelectorAsync("#pg-output[data-state=done]");
        var deltas = int.Parse((await page.GetAttributeAsync("#pg-output", "data-deltas"))!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(deltas > 10, $"expected the answer in many deltas, got {deltas}");
        Assert.False(string.IsNullOrWhiteSpace(await page.TextContentAsync("#pg-output")));
        await Assertions.Expect(page.Locator("#pg-stats")).ToContainTextAsync("out");
        await Screenshot(page, "playground");

        // Signed out: the cookie no longer opens anything.
        await page.ClickAsync("#sign-out");
        await page.WaitForSelectorAsync("#login-form");
        Assert.EndsWith("/ui/login", page.Url, StringComparison.Ordinal);
        var after = await context.APIRequest.GetAsync("/ui/api/spend");
        Assert.Equal(401, after.Status);
        Assert.Empty(pageErrors);
    }

    private static async Task Screenshot(IPage page, string name)
    {
        byte[]? bytes = null;
        foreach (var path in ConsoleGatewayFixture.ScreenshotPaths(name))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            bytes ??= await page.ScreenshotAsync(new PageScreenshotOptions { FullPage = true });
            await File.WriteAllBytesAsync(path, bytes);
        }
    }

    [GeneratedRegex("^gw-[A-Za-z0-9]{8}_[A-Za-z0-9_-]{40,}$")]
    private static partial Regex SecretPattern();
}
