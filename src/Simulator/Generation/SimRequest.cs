using System.Text.Json;

namespace Gateway.Grpc.Simulator.Generation;

internal enum SimRole
{
    System,
    User,
    Assistant,
    Tool,
}

/// <summary>One conversation turn, reduced to what drives the output and the token count.</summary>
internal sealed class SimMessage(SimRole role, string text)
{
    public SimRole Role { get; } = role;

    public string Text { get; } = text;

    /// <summary>Tokens for non-text input (images, audio, files) and tool-call arguments.</summary>
    public int ExtraTokens { get; init; }

    /// <summary>The turn carries tool results (OpenAI role tool, Anthropic tool_result, Gemini functionResponse).</summary>
    public bool HasToolResult { get; init; }
}

internal sealed class SimTool(string name, string description, JsonElement? schema)
{
    public string Name { get; } = name;

    public string Description { get; } = description;

    /// <summary>JSON Schema of the arguments (a detached clone), or null.</summary>
    public JsonElement? Schema { get; } = schema;
}

internal enum ToolChoiceKind
{
    Auto,
    None,
    Required,
    Named,
}

internal enum OutputFormat
{
    Text,
    JsonObject,
    JsonSchema,
}

/// <summary>A chat request in provider-neutral form; every wire format parses into this.</summary>
internal sealed class SimRequest
{
    public string Model { get; set; } = "";

    public List<SimMessage> Messages { get; } = [];

    public List<SimTool> Tools { get; } = [];

    public ToolChoiceKind ToolChoice { get; set; }

    public string? ToolChoiceName { get; set; }

    public bool ParallelToolCalls { get; set; } = true;

    public OutputFormat Format { get; set; }

    public JsonElement? FormatSchema { get; set; }

    public int? MaxTokens { get; set; }

    public List<string> Stop { get; } = [];

    public long? Seed { get; set; }

    public bool Stream { get; set; }

    /// <summary>OpenAI stream_options.include_usage.</summary>
    public bool IncludeUsage { get; set; }
}
