using Gateway.Grpc.Adapters.Configuration;
using Gateway.Grpc.Adapters.Http;
using Gateway.Grpc.Adapters.Secrets;

namespace Gateway.Grpc.Adapters.Tests;

public sealed class SecretResolverTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("secrets-test").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Env_ChangeTakesEffectAfterCheckInterval()
    {
        var name = "GW_TEST_SECRET_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        var time = new ManualTime();
        var resolver = new SecretResolver(time) { EnvCheckInterval = TimeSpan.FromSeconds(1) };
        try
        {
            Environment.SetEnvironmentVariable(name, "one");
            Assert.Equal("one", resolver.Resolve("env:" + name));
            Environment.SetEnvironmentVariable(name, "two");
            Assert.Equal("one", resolver.Resolve("env:" + name)); // still within the check interval: cached
            time.Advance(TimeSpan.FromSeconds(2));
            Assert.Equal("two", resolver.Resolve("env:" + name));

            // Unset: the next read after the interval fails and names the reference.
            Environment.SetEnvironmentVariable(name, null);
            time.Advance(TimeSpan.FromSeconds(2));
            var ex = Assert.Throws<SecretResolutionException>(() => resolver.Resolve("env:" + name));
            Assert.StartsWith("secret env:" + name + " is not set", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void EnvMissing_ErrorNamesReferenceNotValue()
    {
        var ex = Assert.Throws<SecretResolutionException>(() => new SecretResolver().Resolve("env:GW_DEFINITELY_NOT_SET_42"));
        Assert.StartsWith("secret env:GW_DEFINITELY_NOT_SET_42 is not set", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void File_TrailingNewlineTrimmed()
    {
        var path = Path.Combine(_dir, "key");
        File.WriteAllText(path, "sk-file\n");
        Assert.Equal("sk-file", new SecretResolver().Resolve("file:" + path));
    }

    [Fact]
    public void File_ChangeTakesEffectAfterCheckInterval()
    {
        var path = Path.Combine(_dir, "rotating");
        File.WriteAllText(path, "old-key\n");
        var time = new ManualTime();
        var resolver = new SecretResolver(time) { FileCheckInterval = TimeSpan.FromSeconds(1) };
        Assert.Equal("old-key", resolver.Resolve("file:" + path));

        File.WriteAllText(path, "new-key-longer\n");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(5));
        Assert.Equal("old-key", resolver.Resolve("file:" + path)); // still within the check interval: cached
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal("new-key-longer", resolver.Resolve("file:" + path));
    }

    [Fact]
    public void FileMissing_ClearError()
    {
        var ex = Assert.Throws<SecretResolutionException>(() => new SecretResolver().Resolve("file:" + Path.Combine(_dir, "nope")));
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sk-literal-key")]
    [InlineData("env:")]
    [InlineData("env:BAD-NAME")]
    [InlineData("file:relative/path")]
    public void MalformedReference_Refused(string reference)
        => Assert.Throws<SecretResolutionException>(() => new SecretResolver().Resolve(reference));
}

public sealed class AdapterSettingsValidatorTests
{
    [Fact]
    public void LiteralApiKey_RefusedNamingSetting()
    {
        var errors = AdapterSettingsValidator.Validate("openai", new Dictionary<string, string> { ["api_key"] = "sk-abc" });
        var error = Assert.Single(errors);
        Assert.StartsWith("settings.api_key:", error, StringComparison.Ordinal);
        Assert.Contains("env:NAME or file:/path", error, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-abc", error, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingRequiredAndUnknown_Reported()
    {
        var errors = AdapterSettingsValidator.Validate("openai-compatible", new Dictionary<string, string> { ["api-key"] = "env:X" });
        Assert.Contains(errors, e => e.StartsWith("settings.api-key: unknown setting", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("settings.base_url: required", StringComparison.Ordinal));
    }

    [Fact]
    public void UnresolvableSecret_ReportedAtStartup()
    {
        var errors = AdapterSettingsValidator.Validate("anthropic", new Dictionary<string, string> { ["api_key"] = "env:MISSING_ONE" }, new DictionarySecrets());
        Assert.Equal("settings.api_key: secret env:MISSING_ONE is not set.", Assert.Single(errors));
    }

    [Fact]
    public void BadValues_Reported()
    {
        var errors = AdapterSettingsValidator.Validate("gemini", new Dictionary<string, string>
        {
            ["api_key"] = "env:K",
            ["base_url"] = "ftp://x",
            ["timeout_ms"] = "-5",
            ["schema_mode"] = "xml",
            ["headers.Authorization"] = "Bearer x",
            ["headers.bad header"] = "v",
        });
        Assert.Equal(5, errors.Count);
    }

    [Fact]
    public void ValidConfigs_NoErrors()
    {
        Assert.Empty(AdapterSettingsValidator.Validate("azure-openai", new Dictionary<string, string>
        {
            ["base_url"] = "https://r.openai.azure.com", ["api_key"] = "file:/run/secrets/azure", ["deployment"] = "gpt4o", ["api_version"] = "2024-10-21", ["headers.x-ms-client"] = "gw",
        }));
        Assert.Empty(AdapterSettingsValidator.Validate("simulated", new Dictionary<string, string> { ["ttft_ms"] = "50" }));
        Assert.Empty(AdapterSettingsValidator.Validate("grpc", new Dictionary<string, string> { ["base_url"] = "http://127.0.0.1:50051" }));
    }

    [Fact]
    public void UnknownProvider_Reported()
        => Assert.Contains("not a known provider", Assert.Single(AdapterSettingsValidator.Validate("bedrock", new Dictionary<string, string>())), StringComparison.Ordinal);
}

public sealed class RetryAfterTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("7", 7000)]
    [InlineData("1.5", 1500)]
    [InlineData("Thu, 01 Jan 2026 12:00:30 GMT", 30000)]
    [InlineData("Thu, 01 Jan 2026 11:00:00 GMT", 0)]
    public void Header_SecondsOrDate(string value, int expectedMs)
        => Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), RetryAfter.Parse(value, Now));

    [Fact]
    public void RetryAfterMs_WinsOverRetryAfter()
    {
        using var response = new HttpResponseMessage();
        response.Headers.TryAddWithoutValidation("retry-after-ms", "250");
        response.Headers.TryAddWithoutValidation("Retry-After", "9");
        Assert.Equal(TimeSpan.FromMilliseconds(250), RetryAfter.FromHeaders(response.Headers, Now));
    }

    [Theory]
    [InlineData("Rate limit reached for gpt-4o. Please try again in 6.5s. Visit ...", 6500)]
    [InlineData("Please try again in 120ms.", 120)]
    [InlineData("Please try again in 1m30s.", 90000)]
    public void MessageHint_Parsed(string message, int expectedMs)
        => Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), RetryAfter.FromMessage(message));

    [Fact]
    public void NoHint_Null() => Assert.Null(RetryAfter.FromMessage("Too many requests"));

    [Fact]
    public void HeadersWithoutHints_Null()
    {
        using var response = new HttpResponseMessage();
        Assert.Null(RetryAfter.FromHeaders(response.Headers, Now));
    }
}
