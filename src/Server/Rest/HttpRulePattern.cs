using System.Text;

namespace Gateway.Grpc.Server.Rest;

/// <summary>
/// A google.api.http path template turned into an ASP.NET Core route template plus the request
/// fields its variables bind. Grammar (google/api/http.proto): <c>"/" Segments [":" Verb]</c>,
/// a segment is a literal, <c>*</c>, <c>**</c> (last only) or <c>{field.path}</c> /
/// <c>{field.path=segments}</c>.
/// </summary>
internal sealed class HttpRulePattern
{
    private HttpRulePattern(string routeTemplate, IReadOnlyList<VariableBinding> variables)
    {
        RouteTemplate = routeTemplate;
        Variables = variables;
    }

    /// <summary>The template for endpoint routing, e.g. <c>/v1/shelves/{v0}/books/{v1}</c>.</summary>
    public string RouteTemplate { get; }

    public IReadOnlyList<VariableBinding> Variables { get; }

    /// <summary>
    /// A request field bound from the path: its value is <see cref="Parts"/> joined with "/",
    /// each part a literal or a route value (<see cref="RoutePart.RouteKey"/>).
    /// </summary>
    internal sealed record VariableBinding(string FieldPath, IReadOnlyList<RoutePart> Parts);

    internal readonly record struct RoutePart(string? Literal, string? RouteKey);

    /// <summary>Parses <paramref name="template"/>; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static HttpRulePattern Parse(string template)
    {
        if (string.IsNullOrEmpty(template) || template[0] != '/')
        {
            throw new FormatException($"path template '{template}' must start with '/'.");
        }

        var route = new StringBuilder();
        var variables = new List<VariableBinding>();
        var routeKeys = 0;
        var body = template[1..];
        string? verb = null;
        var lastSlash = body.LastIndexOf('/');
        var lastBrace = body.LastIndexOf('}');
        var colon = body.LastIndexOf(':');
        if (colon > lastSlash && colon > lastBrace)
        {
            verb = body[(colon + 1)..];
            body = body[..colon];
            if (verb.Length == 0)
            {
                throw new FormatException($"path template '{template}' has an empty verb after ':'.");
            }
        }

        var segments = SplitSegments(body, template);
        for (var i = 0; i < segments.Count; i++)
        {
            var segment = segments[i];
            route.Append('/');
            if (segment.StartsWith('{'))
            {
                var inner = segment[1..^1];
                var eq = inner.IndexOf('=', StringComparison.Ordinal);
                var fieldPath = eq < 0 ? inner : inner[..eq];
                var pattern = eq < 0 ? "*" : inner[(eq + 1)..];
                if (fieldPath.Length == 0)
                {
                    throw new FormatException($"path template '{template}' has a variable without a field name.");
                }

                var parts = new List<RoutePart>();
                var inside = pattern.Split('/');
                for (var j = 0; j < inside.Length; j++)
                {
                    if (j > 0)
                    {
                        route.Append('/');
                    }

                    var part = inside[j];
                    if (part == "*")
                    {
                        var key = "v" + routeKeys++;
                        route.Append('{').Append(key).Append('}');
                        parts.Add(new RoutePart(null, key));
                    }
                    else if (part == "**")
                    {
                        if (i != segments.Count - 1 || j != inside.Length - 1)
                        {
                            throw new FormatException($"path template '{template}': '**' may only be the last segment.");
                        }

                        var key = "v" + routeKeys++;
                        route.Append("{**").Append(key).Append('}');
                        parts.Add(new RoutePart(null, key));
                    }
                    else
                    {
                        CheckLiteral(part, template);
                        route.Append(part);
                        parts.Add(new RoutePart(part, null));
                    }
                }

                variables.Add(new VariableBinding(fieldPath, parts));
            }
            else if (segment == "*")
            {
                route.Append("{w").Append(routeKeys++).Append('}');
            }
            else if (segment == "**")
            {
                if (i != segments.Count - 1)
                {
                    throw new FormatException($"path template '{template}': '**' may only be the last segment.");
                }

                route.Append("{**w").Append(routeKeys++).Append('}');
            }
            else
            {
                CheckLiteral(segment, template);
                route.Append(segment);
            }
        }

        if (verb is not null)
        {
            CheckLiteral(verb, template);
            route.Append(':').Append(verb);
        }

        return new HttpRulePattern(route.ToString(), variables);
    }

    private static List<string> SplitSegments(string body, string template)
    {
        var segments = new List<string>();
        var start = 0;
        var depth = 0;
        for (var i = 0; i <= body.Length; i++)
        {
            var c = i < body.Length ? body[i] : '/';
            if (c == '{')
            {
                if (depth++ > 0 || i != start)
                {
                    throw new FormatException($"path template '{template}': a variable must be a whole segment.");
                }
            }
            else if (c == '}')
            {
                if (--depth < 0 || (i + 1 < body.Length && body[i + 1] != '/'))
                {
                    throw new FormatException($"path template '{template}': unbalanced or misplaced '}}'.");
                }
            }
            else if (c == '/' && depth == 0)
            {
                if (i == start)
                {
                    throw new FormatException($"path template '{template}' has an empty segment.");
                }

                segments.Add(body[start..i]);
                start = i + 1;
            }
        }

        if (depth != 0)
        {
            throw new FormatException($"path template '{template}': unbalanced '{{'.");
        }

        return segments;
    }

    private static void CheckLiteral(string literal, string template)
    {
        foreach (var c in literal)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~'))
            {
                throw new FormatException($"path template '{template}': '{literal}' is not a plain literal segment.");
            }
        }
    }
}
