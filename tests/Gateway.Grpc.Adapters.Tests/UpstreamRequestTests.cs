using Gateway.Grpc.Adapters.Grpc;
using Gateway.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Gateway.Grpc.Adapters.Tests;

/// <summary>What a gRPC upstream parses from the request the adapter writes.</summary>
public sealed class UpstreamRequestTests
{
    /// <summary>A request with every field of CompletionRequest set (checked below through the descriptor).</summary>
    private static CompletionRequest Full(bool routing, bool metadata)
    {
        var request = new CompletionRequest
        {
            Model = "public-model",
            Messages =
            {
                new Message { Role = Role.System, Content = "Be brief." },
                new Message { Role = Role.User, Parts = { new ContentPart { Text = "What is in" }, new ContentPart { Image = new ImagePart { Url = "https://example.test/cat.png" } } } },
                new Message { Role = Role.Assistant, ToolCalls = { new ToolCall { Id = "call_1", Name = "lookup", ArgumentsJson = "{\"q\":\"cat\"}" } } },
                new Message { Role = Role.Tool, ToolCallId = "call_1", Content = "{\"found\":true}" },
            },
            MaxTokens = 64,
            Temperature = 0.25,
            TopP = 0.5,
            Stop = { "\n\n", "END" },
            Seed = 42,
            Tools = { new Tool { Name = "lookup", Description = "Looks up", Parameters = Struct.Parser.ParseJson("{\"type\":\"object\"}"), Strict = true } },
            ToolChoice = new ToolChoice { FunctionName = "lookup" },
            ResponseFormat = new ResponseFormat { Type = ResponseFormatType.Text },
            User = "user-7",
        };
        if (metadata)
        {
            request.Metadata["team"] = "search";
        }

        if (routing)
        {
            request.Routing = new RoutingOptions { Deployment = "our-deployment" };
        }

        return request;
    }

    [Fact]
    public void FullRequest_SetsEveryField()
    {
        // Guards the tests below: a field added to CompletionRequest must be set in Full().
        var request = Full(routing: true, metadata: true);
        foreach (var field in CompletionRequest.Descriptor.Fields.InFieldNumberOrder())
        {
            var value = field.Accessor.GetValue(request);
            var set = value switch
            {
                System.Collections.ICollection c => c.Count > 0,
                string s => s.Length > 0,
                null => false,
                _ => !field.HasPresence || field.Accessor.HasValue(request),
            };
            Assert.True(set, $"Full() leaves CompletionRequest.{field.Name} unset");
        }
    }

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(false, true, true)]
    [InlineData(true, false, false)]
    [InlineData(true, true, false)]
    [InlineData(false, true, false)]
    public void Written_UpstreamParsesCallersRequestWithDeploymentModel(bool routing, bool metadata, bool forwardMetadata)
    {
        var request = Full(routing, metadata);
        var before = request.Clone();

        var parsed = CompletionRequest.Parser.ParseFrom(UpstreamRequest.For(request, "sim-small", forwardMetadata).ToByteArray());

        var expected = before.Clone();
        expected.Model = "sim-small";
        expected.Routing = null;
        if (!forwardMetadata)
        {
            expected.Metadata.Clear();
        }

        Assert.Equal(expected, parsed);
        Assert.Equal(before, request); // the caller's request is never changed
    }

    [Fact]
    public void PlainRequest_GoesOutAsItIs_NoCopy()
    {
        var request = Full(routing: false, metadata: false);
        var upstream = UpstreamRequest.For(request, "sim-small", forwardMetadata: false);
        Assert.Same(request, upstream.Message);
        Assert.Equal("sim-small", upstream.ModelOverride);

        var sameModel = UpstreamRequest.For(request, "public-model", forwardMetadata: false);
        Assert.Same(request, sameModel.Message);
        Assert.Null(sameModel.ModelOverride);
        Assert.Equal(request.ToByteArray(), sameModel.ToByteArray());
    }

    [Fact]
    public void LongNonAsciiModel_LengthPrefixedCorrectly()
    {
        var model = "modèle-" + new string('x', 200) + "-ü";
        var parsed = CompletionRequest.Parser.ParseFrom(UpstreamRequest.For(Full(false, false), model, false).ToByteArray());
        Assert.Equal(model, parsed.Model);
    }
}
