using System.Text;
using System.Text.Json.Nodes;
using Gateway.Grpc.Observability.Audit;
using Gateway.Grpc.Observability.Tests.Infrastructure;

namespace Gateway.Grpc.Observability.Tests;

/// <summary>
/// The keyed chain (audit.hmacKey): entries hashed with HMAC-SHA256, so someone who can edit the
/// file but lacks the key cannot rewrite an entry and re-chain everything after it.
/// </summary>
public sealed class AuditKeyedChainTests : IDisposable
{
    private static readonly byte[] Key = Encoding.UTF8.GetBytes("audit-key-for-tests-7f3a");
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("gateway-audit-keyed-");

    private string TrailPath => Path.Combine(_directory.FullName, "audit.jsonl");

    public void Dispose() => _directory.Delete(recursive: true);

    private async Task WriteAsync(int entries, byte[]? key)
    {
        using var trail = new AuditTrail(new JsonLinesAuditStore(TrailPath), TimeProvider.System, key);
        for (var i = 1; i <= entries; i++)
        {
            await trail.AppendAsync("key.create", "admin:alice", new JsonObject { ["key_id"] = "k-" + i });
        }
    }

    [Fact]
    public async Task KeyedTrail_VerifiesWithTheKey_NotWithout_NotWithAnother()
    {
        await WriteAsync(3, Key);
        Assert.All(await File.ReadAllLinesAsync(TrailPath), line => Assert.Contains("\"hash\":\"hmac-sha256:", line, StringComparison.Ordinal));

        Assert.True((await AuditVerifier.VerifyFileAsync(TrailPath, default, Key)).Ok);

        var withoutKey = await AuditVerifier.VerifyFileAsync(TrailPath);
        Assert.False(withoutKey.Ok);
        Assert.Contains("keyed", withoutKey.Reason, StringComparison.Ordinal);

        var wrongKey = await AuditVerifier.VerifyFileAsync(TrailPath, default, Encoding.UTF8.GetBytes("not-the-key"));
        Assert.False(wrongKey.Ok);
        Assert.Equal(1, wrongKey.BrokenLine);
    }

    [Fact]
    public async Task RewrittenTail_WithPlainHashes_IsCaught()
    {
        // An editor without the key rewrites entry 3 and re-chains it with plain SHA-256: under an
        // unkeyed chain that would verify; after keyed entries it must not.
        await WriteAsync(3, Key);
        var lines = await File.ReadAllLinesAsync(TrailPath);
        var forged = JsonNode.Parse(lines[2])!.AsObject();
        forged["actor"] = "admin:mallory";
        forged["hash"] = AuditChain.ComputeHash((string)forged["prev"]!, (long)forged["seq"]!, (string)forged["ts"]!, (string)forged["action"]!, "admin:mallory", forged["details"]!.ToJsonString());
        lines[2] = forged.ToJsonString();
        await File.WriteAllLinesAsync(TrailPath, lines);

        var result = await AuditVerifier.VerifyFileAsync(TrailPath, default, Key);

        Assert.False(result.Ok);
        Assert.Equal(3, result.BrokenLine);
        Assert.Contains("unkeyed entry after keyed", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnkeyedTrail_ThenKeyed_ContinuesAndVerifies()
    {
        await WriteAsync(2, key: null);
        await WriteAsync(2, Key);

        var result = await AuditVerifier.VerifyFileAsync(TrailPath, default, Key);

        Assert.True(result.Ok, result.ToString());
        Assert.Equal(4, result.Entries);
        Assert.StartsWith(AuditChain.KeyedPrefix, result.HeadHash, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeyedTrail_OpenedWithoutTheKey_AppendRefused()
    {
        await WriteAsync(1, Key);
        using var trail = new AuditTrail(new JsonLinesAuditStore(TrailPath), TimeProvider.System);

        var ex = await Assert.ThrowsAsync<AuditTrailException>(async () => await trail.OpenAsync());
        Assert.Contains("audit:hmacKey", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyCommand_WithKeyReference()
    {
        await WriteAsync(2, Key);
        var output = new StringWriter();
        var error = new StringWriter();
        string Resolve(string reference) => reference == "env:AUDIT_TEST_KEY" ? Encoding.UTF8.GetString(Key) : throw new InvalidOperationException("secret " + reference + " is not set");

        Assert.Equal(0, await AuditCommand.RunAsync(["verify", TrailPath, "--key", "env:AUDIT_TEST_KEY"], output, error, Resolve));
        Assert.StartsWith("OK: 2 entries, head hmac-sha256:", output.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, await AuditCommand.RunAsync(["verify", TrailPath], output, error, Resolve));
        Assert.Equal(2, await AuditCommand.RunAsync(["verify", TrailPath, "--key", "env:OTHER"], output, error, Resolve));
        Assert.Contains("could not be read", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Encoding.UTF8.GetString(Key), output.ToString() + error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyCommand_ThroughTheGatewayExecutable_WithEnvKey()
    {
        await WriteAsync(2, Key);
        var server = Path.Combine(AppContext.BaseDirectory, "Gateway.Grpc.Server.dll");
        var variable = "GW_AUDIT_KEY_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, Encoding.UTF8.GetString(Key));
        try
        {
            var (exit, output) = await Tools.RunAsync("dotnet", $"\"{server}\" audit verify \"{TrailPath}\" --key env:{variable}");
            Assert.True(exit == 0, output);
            Assert.StartsWith("OK: 2 entries", output, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }
}
