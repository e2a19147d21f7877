using Gateway.Grpc.Server.Configuration;

namespace Gateway.Grpc.Server.Tests;

/// <summary>Start-up validation of model kinds, routers, cascades, continuation and capabilities: each message names the key.</summary>
public sealed class SmartRoutingOptionsTests
{
    private static readonly string[] Providers = ["openai"];

    private static ModelOptions Plain(string name)
        => new() { Name = name, Deployments = [new DeploymentOptions { Name = name + "-1", Provider = "openai" }] };

    private static List<string> Validate(params ModelOptions[] models)
        => GatewayOptionsValidator.Validate(new GatewayOptions { Models = [.. models] }, Providers);

    [Fact]
    public void Validate_RouterAndCascadeWithoutDeployments_Valid()
    {
        var router = new ModelOptions
        {
            Name = "auto",
            Kind = ModelKinds.Router,
            Router = new TaskRouterOptions
            {
                Routes = new() { ["code"] = "coder", ["qa"] = "smart" },
                DefaultClass = "qa",
                Rules = [new TaskRuleOptions { Class = "code", Pattern = "```" }],
                Examples = new() { ["qa"] = ["What is the capital of France?"] },
            },
        };
        var cascade = new ModelOptions
        {
            Name = "smart",
            Kind = ModelKinds.Cascade,
            Cascade = new CascadeOptions { Stages = ["cheap", "coder"], Gate = new CascadeGateOptions { Json = true, Judge = new CascadeJudgeOptions { Model = "cheap" } } },
        };

        Assert.Empty(Validate(router, cascade, Plain("coder"), Plain("cheap")));
    }

    [Fact]
    public void Validate_BadRouter_NamesEachKey()
    {
        var router = new ModelOptions
        {
            Name = "auto",
            Kind = ModelKinds.Router,
            Router = new TaskRouterOptions
            {
                Routes = new() { ["code"] = "nowhere", ["loop"] = "auto" },
                DefaultClass = "qa",
                Rules = [new TaskRuleOptions { Class = "math", Pattern = "(" }],
            },
        };

        var errors = Validate(router);

        Assert.Contains(errors, static e => e.StartsWith("models:0:router:routes:code: 'nowhere' is not a configured model", StringComparison.Ordinal));
        Assert.Contains(errors, static e => e.StartsWith("models:0:router:routes:loop: 'auto' is itself a router", StringComparison.Ordinal));
        Assert.Contains(errors, static e => e.StartsWith("models:0:router:defaultClass: 'qa' is not a class in routes", StringComparison.Ordinal));
        Assert.Contains(errors, static e => e.StartsWith("models:0:router:rules:0:class: 'math'", StringComparison.Ordinal));
        Assert.Contains(errors, static e => e.StartsWith("models:0:router:rules:0:pattern: not a valid regular expression", StringComparison.Ordinal));
        Assert.DoesNotContain(errors, static e => e.Contains("needs at least one deployment", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_BadCascadeKindAndCapability_NamesEachKey()
    {
        var cascade = new ModelOptions { Name = "smart", Kind = ModelKinds.Cascade, Cascade = new CascadeOptions { Stages = ["cheap"] } };
        var odd = Plain("odd");
        odd.Kind = "magic";
        var seeing = Plain("seeing");
        seeing.Deployments[0].Capabilities = ["vision", "telepathy"];

        var errors = Validate(cascade, Plain("cheap"), odd, seeing);

        Assert.Contains(errors, static e => e.StartsWith("models:0:cascade:stages: a cascade needs at least two models", StringComparison.Ordinal));
        Assert.Contains(errors, static e => e.StartsWith("models:0:cascade:gate: set at least one check", StringComparison.Ordinal));
        Assert.Contains(errors, static e => e.StartsWith("models:2:kind: 'magic' is not a model kind", StringComparison.Ordinal));
        Assert.Contains(errors, static e => e.StartsWith("models:3:deployments:0:capabilities: 'telepathy' is not a capability", StringComparison.Ordinal));
        Assert.DoesNotContain(errors, static e => e.Contains("'vision'", StringComparison.Ordinal));
    }
}
