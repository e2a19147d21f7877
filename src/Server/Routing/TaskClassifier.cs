using System.Numerics.Tensors;
using System.Text;
using System.Text.RegularExpressions;
using Gateway.Grpc.Caching.Semantic;
using Gateway.Grpc.Server.Configuration;
using Gateway.V1;

namespace Gateway.Grpc.Server.Routing;

/// <summary>
/// Sorts a request into one of a router's task classes: the first matching rule (regular
/// expression on the last user message, message features), else the nearest centroid of the
/// labelled examples' MiniLM embeddings (cosine), else the default class.
/// </summary>
internal sealed class TaskClassifier
{
    private readonly Rule[] _rules;
    private readonly TaskRouterOptions _options;
    private readonly MiniLmEmbedder? _embedder;
    private readonly Lazy<(string Class, float[] Centroid)[]> _centroids;

    public TaskClassifier(TaskRouterOptions options, MiniLmEmbedder? embedder)
    {
        _options = options;
        _embedder = embedder;
        _rules = options.Rules.ConvertAll(static r => new Rule(r)).ToArray();
        _centroids = new Lazy<(string, float[])[]>(BuildCentroids, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>True when the router classifies by examples (and so needs the embedder).</summary>
    public bool UsesEmbeddings => _options.Examples.Count > 0 && _embedder is not null;

    /// <summary>Embeds the examples now (start-up, off the request path).</summary>
    public void Warm()
    {
        if (UsesEmbeddings)
        {
            _ = _centroids.Value;
        }
    }

    /// <summary>The request's task class and how it was found ("rule", "embedding", "default").</summary>
    public (string Class, string Method) Classify(CompletionRequest request)
    {
        var text = LastUserText(request);
        if (_rules.Length > 0)
        {
            var features = new Features(request, text);
            foreach (var rule in _rules)
            {
                if (rule.Matches(features))
                {
                    return (rule.Class, "rule");
                }
            }
        }

        if (UsesEmbeddings && text.Length > 0)
        {
            var (best, similarity) = Nearest(_embedder!.Embed(text));
            if (best is not null && similarity >= _options.MinSimilarity)
            {
                return (best, "embedding");
            }
        }

        return (_options.DefaultClass, "default");
    }

    /// <summary>The class whose centroid is nearest (cosine) to a unit vector, and the similarity.</summary>
    internal (string? Class, float Similarity) Nearest(float[] vector)
    {
        string? best = null;
        var bestScore = float.MinValue;
        foreach (var (taskClass, centroid) in _centroids.Value)
        {
            var score = TensorPrimitives.Dot(vector, centroid);
            if (score > bestScore)
            {
                best = taskClass;
                bestScore = score;
            }
        }

        return (best, bestScore);
    }

    private (string, float[])[] BuildCentroids()
    {
        var centroids = new List<(string, float[])>(_options.Examples.Count);
        foreach (var (taskClass, examples) in _options.Examples)
        {
            float[]? sum = null;
            foreach (var example in examples)
            {
                var vector = _embedder!.Embed(example);
                sum ??= new float[vector.Length];
                TensorPrimitives.Add(sum, vector, sum);
            }

            if (sum is not null)
            {
                // Mean of unit vectors, normalized again: the dot product with it is a cosine.
                MiniLmEmbedder.Normalize(sum);
                centroids.Add((taskClass, sum));
            }
        }

        return [.. centroids];
    }

    /// <summary>The text of the last user message (content and text parts).</summary>
    internal static string LastUserText(CompletionRequest request)
    {
        for (var i = request.Messages.Count - 1; i >= 0; i--)
        {
            var message = request.Messages[i];
            if (message.Role != Role.User)
            {
                continue;
            }

            if (message.Parts.Count == 0)
            {
                return message.Content;
            }

            var text = new StringBuilder(message.Content);
            foreach (var part in message.Parts)
            {
                if (part.PartCase == ContentPart.PartOneofCase.Text)
                {
                    text.Append(text.Length > 0 ? " " : "").Append(part.Text);
                }
            }

            return text.ToString();
        }

        return "";
    }

    private readonly struct Features(CompletionRequest request, string lastUserText)
    {
        public CompletionRequest Request { get; } = request;

        public string LastUserText { get; } = lastUserText;

        public int PromptChars()
        {
            var chars = 0;
            foreach (var message in Request.Messages)
            {
                chars += message.Content.Length;
                foreach (var part in message.Parts)
                {
                    if (part.PartCase == ContentPart.PartOneofCase.Text)
                    {
                        chars += part.Text.Length;
                    }
                }
            }

            return chars;
        }
    }

    private sealed class Rule(TaskRuleOptions options)
    {
        private readonly Regex? _pattern = options.Pattern is { } p ? new Regex(p, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100)) : null;

        public string Class { get; } = options.Class;

        public bool Matches(in Features features)
        {
            var request = features.Request;
            if (options.HasImages is { } images && images != DeploymentCapabilities.HasImages(request))
            {
                return false;
            }

            if (options.HasTools is { } tools && tools != (request.Tools.Count > 0))
            {
                return false;
            }

            if (options.WantsJson is { } json && json != request.ResponseFormat is { Type: ResponseFormatType.JsonObject or ResponseFormatType.JsonSchema })
            {
                return false;
            }

            if (options.MinChars is not null || options.MaxChars is not null)
            {
                var chars = features.PromptChars();
                if (chars < (options.MinChars ?? 0) || chars > (options.MaxChars ?? int.MaxValue))
                {
                    return false;
                }
            }

            try
            {
                return _pattern is null || _pattern.IsMatch(features.LastUserText);
            }
            catch (RegexMatchTimeoutException)
            {
                // A pathological prompt against a slow pattern: the rule does not apply.
                return false;
            }
        }
    }
}
