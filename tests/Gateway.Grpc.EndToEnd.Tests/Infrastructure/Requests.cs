using System.Text.Json;
using Gateway.V1;
using Google.Protobuf.WellKnownTypes;

namespace Gateway.Grpc.EndToEnd.Tests.Infrastructure;

internal static class Requests
{
    public static CompletionRequest Chat(string model, string prompt = "Tell me about gateways.", int maxTokens = 12)
        => new()
        {
            Model = model,
            MaxTokens = maxTokens,
            Seed = 7,
            Messages = { new Message { Role = Role.User, Content = prompt } },
        };

    /// <summary>A request offering get_weather with the user asking for the weather (the simulator then calls it).</summary>
    public static CompletionRequest WithWeatherTool(string model)
    {
        var request = Chat(model, "What is the weather in Paris?", 64);
        request.Tools.Add(new Tool
        {
            Name = "get_weather",
            Description = "Current weather for a city.",
            Parameters = Struct.Parser.ParseJson("""{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"]}"""),
        });
        request.ToolChoice = new ToolChoice { Mode = ToolChoiceMode.Required };
        return request;
    }

    /// <summary>A request for JSON matching a schema with a string, a number and a boolean.</summary>
    public static CompletionRequest WithJsonSchema(string model)
    {
        var request = Chat(model, "Describe the weather in Paris as JSON.", 256);
        request.ResponseFormat = new ResponseFormat
        {
            Type = ResponseFormatType.JsonSchema,
            JsonSchema = new JsonSchema
            {
                Name = "weather_report",
                Strict = true,
                Schema = Struct.Parser.ParseJson("""{"type":"object","properties":{"city":{"type":"string"},"temperature":{"type":"number"},"sunny":{"type":"boolean"}},"required":["city","temperature","sunny"],"additionalProperties":false}"""),
            },
        };
        return request;
    }

    /// <summary>Asserts <paramref name="json"/> is an object matching the weather_report schema.</summary>
    public static void AssertWeatherReport(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        Assert.Equal(JsonValueKind.Object, root.ValueKind);
        Assert.Equal(JsonValueKind.String, root.GetProperty("city").ValueKind);
        Assert.Equal(JsonValueKind.Number, root.GetProperty("temperature").ValueKind);
        Assert.True(root.GetProperty("sunny").ValueKind is JsonValueKind.True or JsonValueKind.False, json);
    }
}
