using Gateway.Grpc.Server.Hosting;

namespace Gateway.Grpc.Server.Tests;

/// <summary>A config file that does not parse stops start-up with a message naming the file and the fault, not a stack trace.</summary>
public sealed class ConfigFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gw-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Yaml_with_a_duplicate_key_names_file_line_and_key()
    {
        var path = Write("gateway.yaml", "logLevel: Warning\nmaxStreamsPerConnection: 10\nmaxStreamsPerConnection: 20\n");

        var ex = Assert.Throws<GatewayConfigurationException>(() => GatewayApp.Build(["--config", path]));

        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 3", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Duplicate key maxStreamsPerConnection", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Yaml_with_a_mapping_as_a_key_names_file_and_line()
    {
        // Found by fuzzing the config loader: a complex key crashed it with an InvalidCastException.
        var path = Write("gateway.yaml", "logLevel: Warning\n? { a: 1 }\n: x\n");

        var ex = Assert.Throws<GatewayConfigurationException>(() => GatewayApp.Build(["--config", path]));

        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 2", ex.Message, StringComparison.Ordinal);
        Assert.Contains("not plain text", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_that_does_not_parse_names_the_file()
    {
        var path = Write("gateway.json", "{ \"logLevel\": \"Warning\", }}");

        var ex = Assert.Throws<GatewayConfigurationException>(() => GatewayApp.Build(["--config", path]));

        Assert.StartsWith($"Config file '{path}' is not valid JSON: ", ex.Message, StringComparison.Ordinal);
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Theory]
    [InlineData("app.example.com")]
    [InlineData("https://app.example.com/page")]
    [InlineData("ftp://app.example.com")]
    public void GrpcWeb_origin_that_is_not_an_origin_names_the_key(string origin)
    {
        var ex = Assert.Throws<GatewayConfigurationException>(() => GatewayApp.Build([], new Dictionary<string, string?> { ["grpcWeb:allowedOrigins:0"] = origin, ["store:kind"] = "memory" }));
        Assert.Contains("grpcWeb:allowedOrigins:0", ex.Message, StringComparison.Ordinal);
        Assert.Contains(origin, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Request_limits_and_deployment_windows_that_make_no_sense_name_each_key()
    {
        var ex = Assert.Throws<GatewayConfigurationException>(() => GatewayApp.Build([], new Dictionary<string, string?>
        {
            ["store:kind"] = "memory",
            ["requestLimits:maxBodyBytes"] = "10",
            ["requestLimits:maxMessages"] = "0",
            ["requestLimits:maxHeaderBytes"] = "100",
            ["models:0:name"] = "m",
            ["models:0:deployments:0:name"] = "m-1",
            ["models:0:deployments:0:provider"] = "simulated",
            ["models:0:deployments:0:contextWindow"] = "-5",
        }));
        Assert.Contains("requestLimits:maxBodyBytes: must be at least 1024 bytes, got 10", ex.Message, StringComparison.Ordinal);
        Assert.Contains("requestLimits:maxMessages: must be at least 1, got 0", ex.Message, StringComparison.Ordinal);
        Assert.Contains("requestLimits:maxHeaderBytes: must be at least 4096 bytes, got 100", ex.Message, StringComparison.Ordinal);
        Assert.Contains("models:0:deployments:0:contextWindow: must not be negative", ex.Message, StringComparison.Ordinal);
    }
}
