using Gateway.Grpc.Caching.Keys;
using Gateway.V1;
using Google.Protobuf.WellKnownTypes;

namespace Gateway.Grpc.Caching.Tests.Unit;

public sealed class RequestFingerprintTests
{
    private static CompletionRequest Full()
    {
        var request = CacheTestKit.Request();
        request.Messages.Insert(0, new Message { Role = Role.System, Content = "Be brief." });
        request.Temperature = 0;
        request.TopP = 1;
        request.Seed = 42;
        request.MaxTokens = 64;
        request.Stop.Add("END");
        request.Tools.Add(new Tool { Name = "lookup", Parameters = Struct.Parser.ParseJson("""{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}}}""") });
        request.ResponseFormat = new ResponseFormat { Type = ResponseFormatType.JsonObject };
        return request;
    }

    private static string Key(CompletionRequest request, string partition = "team:t1", string group = "m") => RequestFingerprint.ExactKey(partition, group, request);

    [Fact]
    public void ExactKey_SameRequest_SameKey_MetadataUserAndRoutingIgnored()
    {
        var a = Full();
        var b = Full();
        b.Metadata["trace"] = "x";
        b.User = "someone";
        b.Routing = new RoutingOptions { DisableHedging = true };
        Assert.Equal(Key(a), Key(b));
    }

    [Fact]
    public void ExactKey_JsonObjectKeyOrder_DoesNotMatter()
    {
        var a = Full();
        var b = Full();
        b.Tools[0].Parameters = Struct.Parser.ParseJson("""{"properties":{"b":{"type":"number"},"a":{"type":"string"}},"type":"object"}""");
        Assert.Equal(Key(a), Key(b));
    }

    public static TheoryData<string> Changes() => new() { "prompt", "system", "temperature", "top_p", "seed", "max_tokens", "stop", "tool", "format", "role", "unset-temperature" };

    [Theory]
    [MemberData(nameof(Changes))]
    public void ExactKey_AnythingThatChangesTheAnswer_ChangesTheKey(string change)
    {
        var changed = Full();
        switch (change)
        {
            case "prompt": changed.Messages[^1].Content += "?"; break;
            case "system": changed.Messages[0].Content = "Be verbose."; break;
            case "temperature": changed.Temperature = 0.5; break;
            case "top_p": changed.TopP = 0.9; break;
            case "seed": changed.Seed = 43; break;
            case "max_tokens": changed.MaxTokens = 65; break;
            case "stop": changed.Stop.Add("STOP"); break;
            case "tool": changed.Tools[0].Parameters.Fields["type"] = Value.ForString("array"); break;
            case "format": changed.ResponseFormat.Type = ResponseFormatType.Text; break;
            case "role": changed.Messages[0].Role = Role.User; break;
            case "unset-temperature": changed.ClearTemperature(); break;
        }

        Assert.NotEqual(Key(Full()), Key(changed));
    }

    [Fact]
    public void ExactKey_PartitionAndModelGroup_AreInTheKey()
    {
        Assert.NotEqual(Key(Full(), partition: "team:t1"), Key(Full(), partition: "team:t2"));
        Assert.NotEqual(Key(Full(), group: "m"), Key(Full(), group: "m2"));
    }

    [Fact]
    public void ExactKey_FieldBoundaries_CannotBeShifted()
    {
        var a = CacheTestKit.Request("ab");
        a.Messages[0].Name = "c";
        var b = CacheTestKit.Request("a");
        b.Messages[0].Name = "bc";
        Assert.NotEqual(Key(a), Key(b));
    }

    [Fact]
    public void SemanticBucket_IgnoresOnlyTheLastUserTurn()
    {
        var a = Full();
        var b = Full();
        b.Messages[^1].Content = "Which city is France's capital?";
        var index = RequestFingerprint.LastUserText(a, out var text);
        Assert.Equal(a.Messages.Count - 1, index);
        Assert.Equal("What is the capital of France?", text);
        Assert.Equal(RequestFingerprint.SemanticBucket("p", "m", a, index), RequestFingerprint.SemanticBucket("p", "m", b, index));

        b.Messages[0].Content = "Be verbose.";
        Assert.NotEqual(RequestFingerprint.SemanticBucket("p", "m", a, index), RequestFingerprint.SemanticBucket("p", "m", b, index));
    }

    [Fact]
    public void LastUserText_ImageOrAssistantLast_NoSemanticLookup()
    {
        var image = CacheTestKit.Request();
        image.Messages[0].Parts.Add(new ContentPart { Image = new ImagePart { Url = "https://example.com/a.png" } });
        Assert.Equal(-1, RequestFingerprint.LastUserText(image, out _));

        var assistantLast = CacheTestKit.Request();
        assistantLast.Messages.Add(new Message { Role = Role.Assistant, Content = "Paris." });
        Assert.Equal(-1, RequestFingerprint.LastUserText(assistantLast, out _));
    }
}
