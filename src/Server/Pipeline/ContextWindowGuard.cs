using System.Globalization;
using System.Text;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Telemetry;
using Gateway.Grpc.Tokenizer.Chat;
using Gateway.V1;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Pipeline;

/// <summary>
/// The context-window check before dispatch: prompt tokens + max_tokens against the windows of
/// the requested model's deployments, then of its <c>contextFallbacks</c> chain. A request that
/// fits no deployment of the model goes to the first fallback model with one that fits, at
/// once (no provider round trip); when none does it is refused with
/// <c>context_length_exceeded</c> (INVALID_ARGUMENT / HTTP 400) naming the counts.
/// <para>
/// Cheap by construction: a byte-size upper bound on the tokens (byte-level BPE never makes
/// more tokens than UTF-8 bytes) settles short prompts without the tokenizer; longer ones are
/// counted only until they pass twice the largest window in reach (<see cref="ChatTokenCounter.CountPrompt(CompletionRequest, int)"/>),
/// so a 10 MB prompt costs about as much as the largest window's worth of text.
/// </para>
/// </summary>
internal sealed partial class ContextWindowGuard(ModelCatalog catalog, DispatchTelemetry telemetry, ILogger<ContextWindowGuard> logger)
{
    public const string ErrorKind = "context_length_exceeded";

    /// <summary>Upper bound on the tokens one image adds (the counter charges 765 at detail high).</summary>
    private const int ImageTokenBound = 1024;

    /// <summary>Upper bound on the tokens of a message's framing (role, separators, name marker).</summary>
    private const int MessageOverheadBound = 16;

    /// <summary>The group to dispatch to and what the call needs of a window; throws context_length_exceeded when nothing fits.</summary>
    public (ModelGroup Group, ContextFit Fit) Check(ModelGroup origin, CompletionRequest request)
    {
        var pinned = request.Routing is { Deployment.Length: > 0 } routing ? routing.Deployment : null;
        var reserve = request.HasMaxTokens ? request.MaxTokens : 1;
        var smallest = int.MaxValue;
        foreach (var d in origin.Deployments)
        {
            if (pinned is not null && d.Info.Name != pinned)
            {
                continue;
            }

            if (d.ContextWindow == 0)
            {
                // Unknown window: it takes anything, so the call can always go there.
                return (origin, ContextFit.None);
            }

            smallest = Math.Min(smallest, d.ContextWindow);
        }

        if (smallest == int.MaxValue || UpperBound(request) + reserve <= smallest)
        {
            return (origin, ContextFit.None);
        }

        // Count only as far as twice the largest window anything in reach has: past the window
        // nothing fits, and up to twice it the refusal can still say exactly how far over it is.
        var stopAbove = (int)Math.Min(int.MaxValue - 1, 2L * LargestWindow(origin, pinned));
        var tokens = ChatTokenCounter.ForModel(request.Model).CountPrompt(request, stopAbove);
        var exact = tokens <= stopAbove;
        var needed = (int)Math.Min(int.MaxValue, (long)tokens + reserve);
        if (Fits(origin, pinned, needed))
        {
            return (origin, new ContextFit(needed, Fallback: false));
        }

        if (pinned is null)
        {
            foreach (var name in origin.Options.ContextFallbacks)
            {
                if (catalog.TryGet(name, out var next) && next != origin && Fits(next, null, needed))
                {
                    Log.ContextFallback(logger, origin.Name, next.Name, needed);
                    telemetry.Fallback(origin.Name, next.Name, ErrorKind);
                    return (next, new ContextFit(needed, Fallback: true));
                }
            }
        }

        throw Refusal(origin, pinned, request, exact ? tokens : stopAbove, exact, reserve);
    }

    /// <summary>
    /// More tokens than the prompt can possibly have: its UTF-8 bytes (byte-level BPE never
    /// yields more tokens than bytes), plus generous framing per message, image and tool.
    /// </summary>
    internal static long UpperBound(CompletionRequest request)
    {
        long total = 16;
        var utf8 = Encoding.UTF8;
        foreach (var message in request.Messages)
        {
            total += MessageOverheadBound + utf8.GetByteCount(message.Content) + utf8.GetByteCount(message.Name) + utf8.GetByteCount(message.ToolCallId);
            foreach (var part in message.Parts)
            {
                total += part.PartCase switch
                {
                    ContentPart.PartOneofCase.Text => utf8.GetByteCount(part.Text),
                    ContentPart.PartOneofCase.Image => ImageTokenBound,
                    _ => 0,
                };
            }

            foreach (var call in message.ToolCalls)
            {
                total += MessageOverheadBound + utf8.GetByteCount(call.Name) + utf8.GetByteCount(call.ArgumentsJson);
            }
        }

        foreach (var tool in request.Tools)
        {
            // The schema is counted as JSON text: at most about twice its protobuf size.
            total += 32 + utf8.GetByteCount(tool.Name) + utf8.GetByteCount(tool.Description) + (2L * (tool.Parameters?.CalculateSize() ?? 0));
        }

        if (request.ResponseFormat is { JsonSchema: { } schema })
        {
            total += 16 + utf8.GetByteCount(schema.Name) + (2L * (schema.Schema?.CalculateSize() ?? 0));
        }

        return total;
    }

    private int LargestWindow(ModelGroup origin, string? pinned)
    {
        var largest = Largest(origin, pinned);
        if (pinned is null)
        {
            foreach (var name in origin.Options.ContextFallbacks)
            {
                if (catalog.TryGet(name, out var next))
                {
                    largest = Math.Max(largest, Largest(next, null));
                }
            }
        }

        return largest;

        static int Largest(ModelGroup group, string? pinned)
        {
            var max = 0;
            foreach (var d in group.Deployments)
            {
                if (pinned is null || d.Info.Name == pinned)
                {
                    // An unknown window (0) takes any prompt, so no count decides for it: it does
                    // not raise the bound (else a fallback with one would have every prompt counted whole).
                    max = Math.Max(max, d.ContextWindow);
                }
            }

            return max;
        }
    }

    private static bool Fits(ModelGroup group, string? pinned, int needed)
    {
        foreach (var d in group.Deployments)
        {
            if ((pinned is null || d.Info.Name == pinned) && (d.ContextWindow == 0 || d.ContextWindow >= needed))
            {
                return true;
            }
        }

        return false;
    }

    /// <param name="tokens">The prompt's tokens when <paramref name="exact"/>; else the count they are known to exceed.</param>
    private RpcException Refusal(ModelGroup origin, string? pinned, CompletionRequest request, int tokens, bool exact, int reserve)
    {
        var inv = CultureInfo.InvariantCulture;
        var needed = (long)tokens + reserve;
        var prefix = exact ? "" : "more than ";
        var messages = prefix + tokens.ToString(inv);
        var output = request.HasMaxTokens ? $"{reserve.ToString(inv)} for max_tokens" : "at least 1 for the reply";
        var total = prefix + needed.ToString(inv);
        var windows = new StringBuilder();
        var distinct = new SortedSet<int>();
        foreach (var d in origin.Deployments)
        {
            if (pinned is null || d.Info.Name == pinned)
            {
                distinct.Add(d.ContextWindow);
            }
        }

        windows.Append(distinct.Count == 1 ? $"{distinct.Min.ToString(inv)} tokens" : $"at most {distinct.Max.ToString(inv)} tokens on any of its deployments");
        var target = pinned is null ? $"model '{origin.Name}'" : $"deployment '{pinned}' of model '{origin.Name}'";
        var chain = pinned is null && origin.Options.ContextFallbacks.Count > 0
            ? $", and none of its contextFallbacks ({string.Join(", ", origin.Options.ContextFallbacks)}) holds it either"
            : "";
        var message = $"messages: this request needs {total} tokens ({messages} in the prompt, {output}); {target} holds {windows}{chain}. Shorten the messages or lower max_tokens.";
        Log.Refused(logger, origin.Name, needed);
        return new RpcException(new Status(StatusCode.InvalidArgument, message), new Metadata { { ErrorMapping.ErrorKindTrailer, ErrorKind } });
    }

    private static partial class Log
    {
        [LoggerMessage(110, LogLevel.Debug, "Prompt of {Needed} tokens does not fit model {Model}; sent to its context fallback {Fallback} before dispatch.", EventName = "ContextFallback")]
        public static partial void ContextFallback(ILogger logger, string model, string fallback, int needed);

        [LoggerMessage(111, LogLevel.Debug, "Refused before dispatch: {Needed} tokens do not fit model {Model} or its context fallbacks.", EventName = "ContextLengthExceeded")]
        public static partial void Refused(ILogger logger, string model, long needed);
    }
}
