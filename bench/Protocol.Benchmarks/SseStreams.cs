using System.Text;

namespace Gateway.Grpc.Protocol.Benchmarks;

/// <summary>Which provider's event stream is parsed.</summary>
public enum SseProvider
{
    /// <summary>Chat Completions: <c>data:</c> lines only, ending with <c>data: [DONE]</c>.</summary>
    OpenAI,

    /// <summary>Messages API: every event named with an <c>event:</c> line, pings between deltas.</summary>
    Anthropic,
}

/// <summary>One dispatched event as a parser should report it.</summary>
internal readonly record struct SseEvent(string? Name, string Data);

/// <summary>
/// Response bodies shaped like the providers' streams (field order, ids, usage blocks, LF line
/// endings), with the same text deltas in each, plus the events
/// a correct parser must report for them.
/// </summary>
internal static class SseStreams
{
    // Words as a model emits them: mostly a leading space and a short word, some punctuation,
    // some non-ASCII (multi-byte UTF-8).
    private static readonly string[] Words =
    [
        " The", " gateway", " streams", " each", " token", " as", " soon", " as", " it", " arrives",
        ",", " so", " the", " client", " sees", " the", " answer", " grow", ".", "\n\n", "Caf\u00e9",
        " na\u00efve", " \u2014", " r\u00e9sum\u00e9", " latency", " stays", " low", " under", " load", ";",
        " retries", " and", " fallbacks", " happen", " before", " the", " first", " byte", "!", " 42",
    ];

    public static string Word(int index) => Words[(index * 7 + 3) % Words.Length];

    public static (byte[] Body, List<SseEvent> Events) Create(SseProvider provider, int deltas)
        => provider == SseProvider.OpenAI ? OpenAI(deltas) : Anthropic(deltas);

    private static (byte[], List<SseEvent>) OpenAI(int deltas)
    {
        const string Prefix = "{\"id\":\"chatcmpl-AQ8mZr2b7Kx1cV4nT6yL0pW3sE9dH\",\"object\":\"chat.completion.chunk\",\"created\":1732000000,"
            + "\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":";
        var events = new List<SseEvent>(deltas + 4)
        {
            new(null, Prefix + "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}"),
        };
        for (var i = 0; i < deltas; i++)
        {
            events.Add(new(null, Prefix + "[{\"index\":0,\"delta\":{\"content\":\"" + JsonText(Word(i)) + "\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}"));
        }

        events.Add(new(null, Prefix + "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}"));
        events.Add(new(null, Prefix + "[],\"usage\":{\"prompt_tokens\":412,\"completion_tokens\":" + deltas + ",\"total_tokens\":" + (412 + deltas)
            + ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,"
            + "\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}"));
        events.Add(new(null, "[DONE]"));

        var body = new StringBuilder();
        foreach (var e in events)
        {
            body.Append("data: ").Append(e.Data).Append("\n\n");
        }

        return (Encoding.UTF8.GetBytes(body.ToString()), events);
    }

    private static (byte[], List<SseEvent>) Anthropic(int deltas)
    {
        var events = new List<SseEvent>(deltas + 10)
        {
            new("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\","
                + "\"model\":\"claude-3-5-sonnet-20241022\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                + "\"usage\":{\"input_tokens\":412,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}"),
            new("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"),
            new("ping", "{\"type\": \"ping\"}"),
        };
        for (var i = 0; i < deltas; i++)
        {
            if (i > 0 && i % 50 == 0)
            {
                events.Add(new("ping", "{\"type\": \"ping\"}"));
            }

            events.Add(new("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + JsonText(Word(i)) + "\"}}"));
        }

        events.Add(new("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"));
        events.Add(new("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":" + deltas + "}}"));
        events.Add(new("message_stop", "{\"type\":\"message_stop\"}"));

        var body = new StringBuilder();
        foreach (var e in events)
        {
            body.Append("event: ").Append(e.Name).Append('\n').Append("data: ").Append(e.Data).Append("\n\n");
        }

        return (Encoding.UTF8.GetBytes(body.ToString()), events);
    }

    /// <summary>The words contain no quotes or backslashes; only line breaks need escaping.</summary>
    private static string JsonText(string text) => text.Replace("\n", "\\n", StringComparison.Ordinal);
}
