using Gateway.Grpc.Tests.TestInfrastructure;

namespace Gateway.Grpc.Tests.Interop;

/// <summary>
/// grpc-js (tests/interop/interop-client.js) runs every case of gRPC's interop suite
/// (GRPC-PROTOCOL.md section 9) against grpc.testing.TestService on Grpc.AspNetCore, configured
/// as the gateway configures its gRPC server (<see cref="GrpcTestServer"/>).
/// </summary>
public sealed class GrpcJsClientInteropTests(InteropServerFixture fixture) : IClassFixture<InteropServerFixture>
{
    /// <summary>The cases of GRPC-PROTOCOL.md section 9; <see cref="CaseList_MatchesDriver"/> keeps it in step with the driver.</summary>
    public static readonly string[] CaseNames =
    [
        "empty_unary",
        "large_unary",
        "client_compressed_unary",
        "server_compressed_unary",
        "client_streaming",
        "client_compressed_streaming",
        "server_streaming",
        "server_compressed_streaming",
        "ping_pong",
        "empty_stream",
        "custom_metadata",
        "status_code_and_message",
        "special_status_message",
        "unimplemented_method",
        "unimplemented_service",
        "cancel_after_begin",
        "cancel_after_first_response",
        "timeout_on_sleeping_server",
    ];

    public static TheoryData<string> Cases => new(CaseNames);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task InteropCase_GrpcJsClientAgainstGatewayConfiguredServer_Passes(string name)
    {
        var result = await Node.RunScriptAsync("interop-client.js", ["--server", fixture.Server.HostPort, "--cases", name], TimeSpan.FromSeconds(60));

        Assert.True(result.ExitCode == 0, $"interop case {name} failed: {result.Describe()}");
        Assert.Contains($"PASS {name}", result.StandardOutput.Split('\n', StringSplitOptions.TrimEntries));
        Assert.Contains("1 passed, 0 failed", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CaseList_MatchesDriver()
    {
        var result = await Node.RunScriptAsync("interop-client.js", ["--list"], TimeSpan.FromSeconds(30));

        Assert.True(result.ExitCode == 0, result.Describe());
        var listed = result.StandardOutput.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(CaseNames.Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));
    }
}
