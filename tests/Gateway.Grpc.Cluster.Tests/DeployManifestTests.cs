using Gateway.Grpc.Server.Hosting;
using YamlDotNet.RepresentationModel;

namespace Gateway.Grpc.Cluster.Tests;

/// <summary>
/// deploy/: there is no Kubernetes API server or Docker engine on the test machine, so the
/// manifests are checked offline: they parse, reference each other consistently, carry the
/// probes, security settings and secret references the README promises, and the ConfigMap's
/// gateway.yaml passes the gateway's own configuration validation.
/// </summary>
public sealed class DeployManifestTests
{
    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.Grpc.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Gateway.Grpc.sln not found above " + AppContext.BaseDirectory);
    }

    private static YamlMappingNode Load(string file)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(Path.Combine(Root, "deploy", "k8s", file));
        stream.Load(reader);
        return (YamlMappingNode)Assert.Single(stream.Documents).RootNode;
    }

    private static YamlNode At(YamlNode node, params object[] path)
    {
        foreach (var step in path)
        {
            node = step switch
            {
                string key => ((YamlMappingNode)node).Children[new YamlScalarNode(key)],
                int index => ((YamlSequenceNode)node)[index],
                _ => throw new ArgumentException("bad path step", nameof(path)),
            };
        }

        return node;
    }

    private static string Text(YamlNode node, params object[] path) => ((YamlScalarNode)At(node, path)).Value!;

    [Fact]
    public void Kustomization_ListsEveryManifestAndEachParses()
    {
        var resources = ((YamlSequenceNode)At(Load("kustomization.yaml"), "resources")).Select(static n => ((YamlScalarNode)n).Value!).ToList();
        Assert.Equal(["configmap.yaml", "deployment.yaml", "service.yaml", "hpa.yaml"], resources);
        Assert.Equal(["ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler"], resources.Select(r => Text(Load(r), "kind")));
    }

    [Fact]
    public void Deployment_ProbesHealthAndReadiness_RunsNonRootOnAReadOnlyRoot_SecretsByReference()
    {
        var deployment = Load("deployment.yaml");
        var pod = At(deployment, "spec", "template", "spec");
        var container = At(pod, "containers", 0);
        Assert.Equal("/healthz", Text(container, "livenessProbe", "httpGet", "path"));
        Assert.Equal("/healthz", Text(container, "startupProbe", "httpGet", "path"));
        Assert.Equal("/readyz", Text(container, "readinessProbe", "httpGet", "path"));
        Assert.Equal("http", Text(container, "readinessProbe", "httpGet", "port"));
        Assert.Equal("true", Text(pod, "securityContext", "runAsNonRoot"));
        Assert.Equal("true", Text(container, "securityContext", "readOnlyRootFilesystem"));
        Assert.Equal("false", Text(container, "securityContext", "allowPrivilegeEscalation"));

        // The only writable paths are volumes.
        var mounts = ((YamlSequenceNode)At(container, "volumeMounts")).ToDictionary(static m => Text(m, "mountPath"), static m => Text(m, "name"));
        Assert.Equal("tmp", mounts["/tmp"]);
        Assert.Equal("config", mounts["/etc/gateway"]);
        var volumes = ((YamlSequenceNode)At(pod, "volumes")).ToDictionary(static v => Text(v, "name"));
        Assert.Equal("llm-gateway-config", Text(volumes["config"], "configMap", "name"));
        Assert.True(((YamlMappingNode)volumes["tmp"]).Children.ContainsKey(new YamlScalarNode("emptyDir")));

        // Every secret the configuration references (env:NAME) comes from a Secret, none is inline.
        var env = ((YamlSequenceNode)At(container, "env")).ToDictionary(static e => Text(e, "name"));
        var config = Text(Load("configmap.yaml"), "data", "gateway.yaml");
        var references = System.Text.RegularExpressions.Regex.Matches(config, @"env:([A-Z_]+)").Select(static m => m.Groups[1].Value).Distinct().ToList();
        Assert.Contains("GATEWAY_MASTER_KEY", references);
        Assert.Contains("OPENAI_API_KEY", references);
        foreach (var name in references)
        {
            Assert.True(env.TryGetValue(name, out var variable), $"{name} is referenced by gateway.yaml but not set in the Deployment");
            Assert.NotEmpty(Text(variable, "valueFrom", "secretKeyRef", "name"));
        }

        // The pod gets longer than the gateway's own drain delay + grace period before SIGKILL.
        Assert.True(int.Parse(Text(pod, "terminationGracePeriodSeconds")) > 5 + 30);
    }

    [Fact]
    public void ServiceAndAutoscaler_PointAtTheDeployment()
    {
        var ports = ((YamlSequenceNode)At(Load("service.yaml"), "spec", "ports")).Select(static p => Text(p, "targetPort")).ToList();
        var containerPorts = ((YamlSequenceNode)At(Load("deployment.yaml"), "spec", "template", "spec", "containers", 0, "ports")).Select(static p => Text(p, "name")).ToList();
        Assert.Equal(containerPorts, ports);
        var hpa = Load("hpa.yaml");
        Assert.Equal("llm-gateway", Text(hpa, "spec", "scaleTargetRef", "name"));
        Assert.Equal("Deployment", Text(hpa, "spec", "scaleTargetRef", "kind"));
        Assert.Equal("cpu", Text(hpa, "spec", "metrics", 0, "resource", "name"));
    }

    [Fact]
    public async Task ConfigMapGatewayYaml_PassesTheGatewaysValidation()
    {
        var file = Path.Combine(Path.GetTempPath(), "gw-deploy-" + Guid.NewGuid().ToString("N")[..8] + ".yaml");
        await File.WriteAllTextAsync(file, Text(Load("configmap.yaml"), "data", "gateway.yaml"));
        var names = new[] { "GATEWAY_MASTER_KEY", "GATEWAY_STORE_CONNECTION", "GATEWAY_REDIS_PASSWORD", "OPENAI_API_KEY" };
        foreach (var name in names)
        {
            Environment.SetEnvironmentVariable(name, name == "GATEWAY_STORE_CONNECTION" ? "Host=postgres;Database=gateway;Username=gateway;Password=x" : "test-value");
        }

        try
        {
            // Builds (validates, wires the stores) without starting: nothing connects to PostgreSQL or Redis.
            await using var app = GatewayApp.Build(["--config", file]);
            Assert.NotNull(app);
        }
        finally
        {
            foreach (var name in names)
            {
                Environment.SetEnvironmentVariable(name, null);
            }

            File.Delete(file);
        }
    }

    [Fact]
    public void Dockerfile_IsMultiStage_RunsAsNonRootOnAllInterfaces()
    {
        var lines = File.ReadAllLines(Path.Combine(Root, "deploy", "Dockerfile"));
        Assert.Equal(2, lines.Count(static l => l.StartsWith("FROM ", StringComparison.Ordinal)));
        Assert.Contains(lines, static l => l.StartsWith("COPY --from=build", StringComparison.Ordinal));
        Assert.Contains(lines, static l => l.Trim() == "USER $APP_UID");
        Assert.Contains(lines, static l => l.Contains("GATEWAY_GRPCADDRESS=0.0.0.0:50051", StringComparison.Ordinal));
    }

    /// <summary>
    /// The GC knob the gateway runs with lives in three places because the runtime reads it only
    /// from the environment: the image, the `dotnet run` launch profile and the benchmark, which
    /// must measure the gateway as it is deployed.
    /// </summary>
    [Fact]
    public void Gen0Budget_IsTheSameInTheImageTheLaunchProfileAndTheBenchmark()
    {
        var image = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(Path.Combine(Root, "deploy", "Dockerfile")), @"DOTNET_GCgen0size=(\S+)");
        Assert.True(image.Success, "deploy/Dockerfile sets no DOTNET_GCgen0size");

        using var launch = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "src", "Server", "Properties", "launchSettings.json")));
        var profile = launch.RootElement.GetProperty("profiles").EnumerateObject().First().Value;
        Assert.Equal(image.Groups[1].Value, profile.GetProperty("environmentVariables").GetProperty("DOTNET_GCgen0size").GetString());

        var bench = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(Path.Combine(Root, "bench", "common.sh")), @"GC_GEN0SIZE=\$\{BENCH_GC_GEN0SIZE-(\S+)\}");
        Assert.True(bench.Success, "bench/common.sh sets no GC_GEN0SIZE default");
        Assert.Equal(image.Groups[1].Value, bench.Groups[1].Value);
    }
}
