using System.Text.Json;
using Gateway.Grpc.Simulator.Generation;

namespace Gateway.Grpc.Simulator.Tests;

public sealed class GeneratorTests
{
    private static SimRequest Request(string text, string model = "m")
    {
        var request = new SimRequest { Model = model };
        request.Messages.Add(new SimMessage(SimRole.User, text));
        return request;
    }

    [Fact]
    public void Plan_SameInput_SameOutput_DifferentModel_DifferentOutput()
    {
        var a = Generator.Plan(Request("hello"), null, null);
        var b = Generator.Plan(Request("hello"), null, null);
        var c = Generator.Plan(Request("hello", "other"), null, null);

        Assert.Equal(a.Text, b.Text);
        Assert.NotEqual(a.Text, c.Text);
        Assert.Equal(a.TextTokens.Count, a.OutputTokens);
        Assert.InRange(a.OutputTokens, 16, 63);
    }

    [Fact]
    public void Plan_MaxTokens_CutsWithLength()
    {
        var request = Request("hello");
        request.MaxTokens = 3;

        var plan = Generator.Plan(request, 10, null);

        Assert.Equal(SimFinish.Length, plan.Finish);
        Assert.Equal(3, plan.OutputTokens);
    }

    [Fact]
    public void Plan_StopSpanningTwoTokens_CutsBeforeItsStart()
    {
        var full = Generator.Plan(Request("hello"), 20, null).Text;
        var words = full.Split(' ');
        var request = Request("hello");
        request.Stop.Add(words[2][1..] + " " + words[3]);

        var plan = Generator.Plan(request, 20, null);

        Assert.Equal(SimFinish.StopSequence, plan.Finish);
        Assert.Equal(full[..full.IndexOf(request.Stop[0], StringComparison.Ordinal)], plan.Text);
    }

    [Theory]
    [InlineData("What is the weather in Paris?", "get_weather", true)]
    [InlineData("Please call lookupCustomerRecord", "lookupCustomerRecord", true)]
    [InlineData("find the customer", "lookupCustomerRecord", true)]
    [InlineData("Tell me a joke", "get_weather", false)]
    public void Plan_AutoToolChoice_CallsMentionedTools(string prompt, string tool, bool called)
    {
        var request = Request(prompt);
        using var schema = JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1}}}""");
        request.Tools.Add(new SimTool(tool, "", schema.RootElement.Clone()));

        var plan = Generator.Plan(request, null, null);

        Assert.Equal(called, plan.ToolCalls.Count == 1);
        if (called)
        {
            Assert.Equal(SimFinish.ToolCalls, plan.Finish);
            using var args = JsonDocument.Parse(plan.ToolCalls[0].Arguments);
            Assert.True(args.RootElement.GetProperty("days").GetInt32() >= 1);
            Assert.Equal(plan.ToolCalls[0].Arguments, string.Concat(plan.ToolCalls[0].Pieces));
        }
    }

    [Fact]
    public void Plan_AfterToolResult_AnswersWithText()
    {
        var request = Request("What is the weather in Paris?");
        request.Messages.Add(new SimMessage(SimRole.Tool, "{\"t\":21}") { HasToolResult = true });
        request.Tools.Add(new SimTool("get_weather", "", null));

        var plan = Generator.Plan(request, null, null);

        Assert.Empty(plan.ToolCalls);
        Assert.Equal(SimFinish.Stop, plan.Finish);
    }

    [Fact]
    public void SchemaSampler_GeminiUppercaseTypes()
    {
        using var schema = JsonDocument.Parse("""{"type":"OBJECT","properties":{"n":{"type":"INTEGER"},"tags":{"type":"ARRAY","items":{"type":"STRING"}}}}""");
        var random = new DeterministicRandom(42);

        using var value = JsonDocument.Parse(SchemaSampler.Sample(schema.RootElement, ref random));

        Assert.Equal(JsonValueKind.Number, value.RootElement.GetProperty("n").ValueKind);
        Assert.Equal(JsonValueKind.Array, value.RootElement.GetProperty("tags").ValueKind);
    }

    [Fact]
    public void Embeddings_UnitLength_Deterministic()
    {
        var a = EmbeddingVectors.Create("m", "text", 128);
        var b = EmbeddingVectors.Create("m", "text", 128);

        Assert.Equal(a, b);
        Assert.Equal(1.0, Math.Sqrt(a.Sum(v => (double)v * v)), 3);
    }
}
