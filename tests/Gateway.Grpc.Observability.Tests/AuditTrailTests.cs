using System.Text.Json.Nodes;
using Gateway.Grpc.Observability.Audit;
using Gateway.Grpc.Observability.Tests.Infrastructure;

namespace Gateway.Grpc.Observability.Tests;

public sealed class AuditTrailTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("gateway-audit-");

    private string TrailPath => Path.Combine(_directory.FullName, "audit.jsonl");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public async Task Append_ThreeEntries_VerifyOk_HeadIsLastHash()
    {
        var last = await WriteTrailAsync(3);

        var result = await AuditVerifier.VerifyFileAsync(TrailPath);

        Assert.True(result.Ok, result.ToString());
        Assert.Equal(3, result.Entries);
        Assert.Equal(last.Hash, result.HeadHash);
        var lines = await File.ReadAllLinesAsync(TrailPath);
        Assert.Equal(3, lines.Length);
        Assert.Contains("\"prev\":\"" + AuditChain.GenesisHash + "\"", lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task EditedLine_VerifyFailsAtThatEntry()
    {
        await WriteTrailAsync(3);
        var lines = await File.ReadAllLinesAsync(TrailPath);
        lines[1] = lines[1].Replace("admin:alice", "admin:mallory", StringComparison.Ordinal);
        await File.WriteAllLinesAsync(TrailPath, lines);

        var result = await AuditVerifier.VerifyFileAsync(TrailPath);

        Assert.False(result.Ok);
        Assert.Equal(2, result.BrokenLine);
        Assert.Contains("modified", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EditedDetails_VerifyFailsAtThatEntry()
    {
        await WriteTrailAsync(3);
        var lines = await File.ReadAllLinesAsync(TrailPath);
        lines[2] = lines[2].Replace("\"team\":\"team-3\"", "\"team\":\"team-9\"", StringComparison.Ordinal);
        await File.WriteAllLinesAsync(TrailPath, lines);

        var result = await AuditVerifier.VerifyFileAsync(TrailPath);

        Assert.Equal(3, result.BrokenLine);
    }

    [Fact]
    public async Task EditedLineWithItsHashRecomputed_NextEntryBreaks()
    {
        await WriteTrailAsync(3);
        var lines = await File.ReadAllLinesAsync(TrailPath);
        var forged = JsonNode.Parse(lines[1])!.AsObject();
        forged["actor"] = "admin:mallory";
        forged["hash"] = AuditChain.ComputeHash((string)forged["prev"]!, (long)forged["seq"]!, (string)forged["ts"]!, (string)forged["action"]!, "admin:mallory", forged["details"]!.ToJsonString());
        lines[1] = forged.ToJsonString();
        await File.WriteAllLinesAsync(TrailPath, lines);

        var result = await AuditVerifier.VerifyFileAsync(TrailPath);

        Assert.Equal(3, result.BrokenLine);
        Assert.Contains("prev", result.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 2)]
    public async Task DeletedLine_VerifyFailsWhereTheChainBreaks(int deleted, int brokenLine)
    {
        await WriteTrailAsync(3);
        var lines = (await File.ReadAllLinesAsync(TrailPath)).ToList();
        lines.RemoveAt(deleted);
        await File.WriteAllLinesAsync(TrailPath, lines);

        var result = await AuditVerifier.VerifyFileAsync(TrailPath);

        Assert.False(result.Ok);
        Assert.Equal(brokenLine, result.BrokenLine);
    }

    [Fact]
    public async Task ReorderedLines_VerifyFails()
    {
        await WriteTrailAsync(3);
        var lines = await File.ReadAllLinesAsync(TrailPath);
        (lines[1], lines[2]) = (lines[2], lines[1]);
        await File.WriteAllLinesAsync(TrailPath, lines);

        var result = await AuditVerifier.VerifyFileAsync(TrailPath);

        Assert.False(result.Ok);
        Assert.Equal(2, result.BrokenLine);
    }

    [Fact]
    public async Task GarbageLine_VerifyFailsAtIt()
    {
        await WriteTrailAsync(2);
        await File.AppendAllTextAsync(TrailPath, "not json\n");

        var result = await AuditVerifier.VerifyFileAsync(TrailPath);

        Assert.Equal(3, result.BrokenLine);
    }

    [Fact]
    public async Task Reopen_ContinuesTheChain()
    {
        await WriteTrailAsync(2);

        using (var trail = new AuditTrail(new JsonLinesAuditStore(TrailPath), TimeProvider.System))
        {
            var third = await trail.AppendAsync("key.revoke", "admin:bob", new JsonObject { ["key_id"] = "k-1" });
            Assert.Equal(3, third!.Sequence);
        }

        var result = await AuditVerifier.VerifyFileAsync(TrailPath);
        Assert.True(result.Ok, result.ToString());
        Assert.Equal(3, result.Entries);
    }

    [Fact]
    public async Task PartialLastLine_OpenRefused_NamingTheFix()
    {
        await WriteTrailAsync(2);
        await File.AppendAllTextAsync(TrailPath, "{\"seq\":3,\"ts\":");

        using var trail = new AuditTrail(new JsonLinesAuditStore(TrailPath), TimeProvider.System);
        var error = await Assert.ThrowsAsync<AuditTrailException>(async () => await trail.OpenAsync());

        Assert.Contains("incomplete entry", error.Message, StringComparison.Ordinal);
        Assert.Contains("audit verify", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TamperedLastEntry_AppendRefused()
    {
        await WriteTrailAsync(2);
        var lines = await File.ReadAllLinesAsync(TrailPath);
        lines[1] = lines[1].Replace("admin:alice", "admin:mallory", StringComparison.Ordinal);
        await File.WriteAllLinesAsync(TrailPath, lines);

        using var trail = new AuditTrail(new JsonLinesAuditStore(TrailPath), TimeProvider.System);

        await Assert.ThrowsAsync<AuditTrailException>(async () => await trail.AppendAsync("x", "y", null));
    }

    [Fact]
    public void SecondWriter_OnTheSameTrail_Refused()
    {
        using var first = new JsonLinesAuditStore(TrailPath);

        var error = Assert.Throws<AuditTrailException>(() => new JsonLinesAuditStore(TrailPath));

        Assert.Contains("another writer", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConcurrentAppends_AreSerialized_ChainVerifies()
    {
        using (var trail = new AuditTrail(new JsonLinesAuditStore(TrailPath), TimeProvider.System))
        {
            await Task.WhenAll(Enumerable.Range(0, 50).Select(i => trail.AppendAsync("team.update", "admin:" + i, new JsonObject { ["i"] = i }).AsTask()));
        }

        var result = await AuditVerifier.VerifyFileAsync(TrailPath);

        Assert.True(result.Ok, result.ToString());
        Assert.Equal(50, result.Entries);
    }

    [Fact]
    public void CanonicalDetails_SortsKeysAtEveryLevel_KeepsNumbersAsWritten()
        => Assert.Equal("{\"a\":[{\"x\":1,\"y\":2}],\"b\":1.50,\"c\":\"é\\n\\u0001\"}", AuditChain.CanonicalDetails("{ \"c\": \"\\u00e9\\n\\u0001\", \"b\": 1.50, \"a\": [ { \"y\": 2, \"x\": 1 } ] }"));

    [Fact]
    public async Task VerifyCommand_ExitCodes_OkBrokenMissing()
    {
        await WriteTrailAsync(2);
        var output = new StringWriter();
        var error = new StringWriter();

        Assert.Equal(0, await AuditCommand.RunAsync(["verify", TrailPath], output, error));
        Assert.StartsWith("OK: 2 entries, head ", output.ToString(), StringComparison.Ordinal);

        var lines = await File.ReadAllLinesAsync(TrailPath);
        await File.WriteAllLinesAsync(TrailPath, [lines[1]]);
        Assert.Equal(1, await AuditCommand.RunAsync(["verify", TrailPath], output, error));
        Assert.Contains("BROKEN at line 1", error.ToString(), StringComparison.Ordinal);

        Assert.Equal(2, await AuditCommand.RunAsync(["verify", TrailPath + ".missing"], output, error));
        Assert.Equal(2, await AuditCommand.RunAsync(["check"], output, error));
    }

    [Fact]
    public async Task VerifyCommand_ThroughTheGatewayExecutable()
    {
        await WriteTrailAsync(3);
        var server = Path.Combine(AppContext.BaseDirectory, "Gateway.Grpc.Server.dll");

        var (okExit, okOutput) = await Tools.RunAsync("dotnet", $"\"{server}\" audit verify \"{TrailPath}\"");
        var lines = await File.ReadAllLinesAsync(TrailPath);
        lines[2] = lines[2].Replace("key.create", "key.delete", StringComparison.Ordinal);
        await File.WriteAllLinesAsync(TrailPath, lines);
        var (badExit, badOutput) = await Tools.RunAsync("dotnet", $"\"{server}\" audit verify \"{TrailPath}\"");

        Assert.True(okExit == 0, okOutput);
        Assert.StartsWith("OK: 3 entries", okOutput, StringComparison.Ordinal);
        Assert.Equal(1, badExit);
        Assert.Contains("BROKEN at line 3", badOutput, StringComparison.Ordinal);
    }

    private async Task<AuditRecord> WriteTrailAsync(int entries)
    {
        using var trail = new AuditTrail(new JsonLinesAuditStore(TrailPath), TimeProvider.System);
        AuditRecord? last = null;
        for (var i = 1; i <= entries; i++)
        {
            last = await trail.AppendAsync("key.create", "admin:alice", new JsonObject { ["key_id"] = "k-" + i, ["team"] = "team-" + i, ["limits"] = new JsonObject { ["rpm"] = 60 * i } });
        }

        return last!;
    }
}
