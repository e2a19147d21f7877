namespace Gateway.Grpc.Adapters;

/// <summary>The provider kinds a deployment's <c>provider</c> can name.</summary>
public static class ProviderNames
{
    public const string OpenAI = "openai";
    public const string OpenAICompatible = "openai-compatible";
    public const string AzureOpenAI = "azure-openai";
    public const string Anthropic = "anthropic";
    public const string Gemini = "gemini";
    public const string Grpc = "grpc";
    public const string Simulated = "simulated";

    public static IReadOnlyList<string> All { get; } = [OpenAI, OpenAICompatible, AzureOpenAI, Anthropic, Gemini, Grpc, Simulated];
}
