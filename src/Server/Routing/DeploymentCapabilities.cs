using Gateway.V1;

namespace Gateway.Grpc.Server.Routing;

/// <summary>What a request needs of a deployment, and what a deployment declares it can take.</summary>
[Flags]
internal enum Capability
{
    None = 0,

    /// <summary>Image input (an image content part).</summary>
    Vision = 1,

    /// <summary>Tool (function) definitions.</summary>
    Tools = 2,

    /// <summary>Structured output against a JSON schema (<c>response_format.json_schema</c>).</summary>
    JsonSchema = 4,

    /// <summary>Not declared: the request's max_tokens must not exceed the deployment's maxOutputTokens.</summary>
    OutputLimit = 8,

    /// <summary>Every declarable capability (a deployment that declares nothing).</summary>
    All = Vision | Tools | JsonSchema,
}

internal static class DeploymentCapabilities
{
    public static readonly string[] Names = ["vision", "tools", "json_schema"];

    public static bool TryParse(string name, out Capability capability)
    {
        capability = name.Trim().ToLowerInvariant() switch
        {
            "vision" or "image" or "images" => Capability.Vision,
            "tools" or "functions" => Capability.Tools,
            "json_schema" or "json-schema" or "structured_output" => Capability.JsonSchema,
            "none" => Capability.None,
            _ => (Capability)(-1),
        };
        return capability != (Capability)(-1);
    }

    /// <summary>The deployment's capabilities: all when it declares none (unset), else the listed ones.</summary>
    public static Capability FromOptions(List<string>? declared)
    {
        if (declared is null)
        {
            return Capability.All;
        }

        var capabilities = Capability.None;
        foreach (var name in declared)
        {
            if (TryParse(name, out var capability))
            {
                capabilities |= capability;
            }
        }

        return capabilities;
    }

    /// <summary>What <paramref name="request"/> needs: images, tools, a JSON schema, and (when <paramref name="outputLimits"/>) its max_tokens.</summary>
    public static Capability Required(CompletionRequest request, bool outputLimits)
    {
        var needs = Capability.None;
        if (request.Tools.Count > 0)
        {
            needs |= Capability.Tools;
        }

        if (request.ResponseFormat is { Type: ResponseFormatType.JsonSchema })
        {
            needs |= Capability.JsonSchema;
        }

        if (outputLimits && request.HasMaxTokens)
        {
            needs |= Capability.OutputLimit;
        }

        if (HasImages(request))
        {
            needs |= Capability.Vision;
        }

        return needs;
    }

    public static bool HasImages(CompletionRequest request)
    {
        foreach (var message in request.Messages)
        {
            foreach (var part in message.Parts)
            {
                if (part.PartCase == ContentPart.PartOneofCase.Image)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Names the needs no deployment met, for the INVALID_ARGUMENT message.</summary>
    public static string Describe(Capability missing, CompletionRequest request)
    {
        var names = new List<string>(4);
        if ((missing & Capability.Vision) != 0)
        {
            names.Add("vision (the request has image input)");
        }

        if ((missing & Capability.Tools) != 0)
        {
            names.Add("tools (the request offers tools)");
        }

        if ((missing & Capability.JsonSchema) != 0)
        {
            names.Add("json_schema (the request asks for response_format json_schema)");
        }

        if ((missing & Capability.OutputLimit) != 0)
        {
            names.Add($"max output tokens >= {request.MaxTokens} (the request's max_tokens)");
        }

        return string.Join(", ", names);
    }
}
