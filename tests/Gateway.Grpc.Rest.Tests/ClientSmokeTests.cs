using Grpc.Core;
using Grpc.Net.Client;
using Gateway.Grpc.Rest.Tests.Infrastructure;
using Gateway.V1;

namespace Gateway.Grpc.Rest.Tests;

/// <summary>
/// Each generated client runs its README example (unary, streaming, deadline, API key) against
/// the in-process gateway. The examples exit non-zero when any step misbehaves.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class ClientSmokeTests(GatewayFixture gateway)
{
    private static string ClientDir(string language) => Path.Combine(ExternalProcess.RepoRoot, "src", "Clients", language);

    private static void AssertExample(ProcessResult result, string okLine)
    {
        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Contains(okLine, result.Output, StringComparison.Ordinal);
        Assert.Contains("models: sim-large, sim-small", result.Output, StringComparison.Ordinal);
        Assert.Contains("deadline: DEADLINE_EXCEEDED", result.Output, StringComparison.Ordinal);
        Assert.Matches(@"x-request-id: (py|go|ts)-example-1", result.Output);
    }

    [Fact]
    public async Task Python_ExampleRunsAgainstGateway()
    {
        var python = ExternalProcess.RequireTool("/usr/bin/python3", "apt-get install python3 python3-grpcio python3-protobuf");
        var result = await ExternalProcess.RunAsync(
            python,
            ["example.py", "--target", gateway.GrpcTarget, "--api-key", "sk-test"],
            ClientDir("python"),
            TimeSpan.FromSeconds(60));
        AssertExample(result, "python example: ok");
    }

    [Fact]
    public async Task Go_ExampleBuildsOfflineAndRunsAgainstGateway()
    {
        ExternalProcess.RequireTool("go", "apt-get install golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev");
        var bash = ExternalProcess.RequireTool("bash", "install bash");
        var output = Path.Combine(Path.GetTempPath(), "gateway-go-example-" + Guid.NewGuid().ToString("N"));
        try
        {
            var build = await ExternalProcess.RunAsync(bash, [Path.Combine(ClientDir("go"), "build.sh"), output], ClientDir("go"), TimeSpan.FromMinutes(5));
            Assert.True(build.ExitCode == 0, "go build failed: " + build.Describe());
            var result = await ExternalProcess.RunAsync(output, ["-target", gateway.GrpcTarget, "-api-key", "sk-test"], ClientDir("go"), TimeSpan.FromSeconds(60));
            AssertExample(result, "go example: ok");
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Fact]
    public async Task TypeScript_ExampleCompilesAndRunsAgainstGateway()
    {
        var node = ExternalProcess.RequireTool("node", "install Node.js 20 or newer");
        ExternalProcess.RequireNodeModules("src/Clients/typescript", "@grpc/grpc-js");
        ExternalProcess.RequireNodeModules("src/Clients/typescript", "typescript");
        var dir = ClientDir("typescript");
        var compile = await ExternalProcess.RunAsync(node, [Path.Combine(dir, "node_modules", "typescript", "bin", "tsc"), "-p", "."], dir, TimeSpan.FromMinutes(3));
        Assert.True(compile.ExitCode == 0, "tsc failed: " + compile.Describe());
        var result = await ExternalProcess.RunAsync(node, ["dist/examples/example.js", "--target", gateway.GrpcTarget, "--api-key", "sk-test"], dir, TimeSpan.FromSeconds(60));
        AssertExample(result, "typescript example: ok");
    }

    /// <summary>The C# snippet of docs/CLIENTS.md, as written there (the C# client has its own tests).</summary>
    [Fact]
    public async Task CSharp_DocsSnippetRunsAgainstGateway()
    {
        using var channel = GrpcChannel.ForAddress("http://" + gateway.GrpcTarget);
        var headers = new Metadata { { "authorization", "Bearer demo-key" } };
        var request = new CompletionRequest
        {
            Model = "sim-small",
            MaxTokens = 32,
            Messages = { new Message { Role = Role.User, Content = "Hello!" } },
        };

        var client = new Completion.CompletionClient(channel);
        var response = await client.CompleteAsync(request, headers, deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.False(string.IsNullOrEmpty(response.Message.Content));

        using var call = client.StreamComplete(request, headers, deadline: DateTime.UtcNow.AddSeconds(30));
        var text = "";
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            if (chunk.EventCase == CompletionChunk.EventOneofCase.Delta)
            {
                text += chunk.Delta.Text;
            }
        }

        Assert.Equal(response.Message.Content, text);
    }
}
