using System.Buffers.Binary;
using System.IO.Compression;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Gateway.V1;

namespace Gateway.Grpc.Protocol.Benchmarks;

/// <summary>
/// The messages the gateway moves on its hot paths, shaped like real traffic: a chat request with
/// a system prompt, a few turns, a tool round trip and two tool schemas; and a streamed answer
/// (start, many small text deltas, usage, finish). Frames are built here with plain code that
/// does not go through <c>MessageFraming</c>, so the benchmarks check the real path against
/// bytes it did not produce.
/// </summary>
internal static class GrpcPayloads
{
    public const int HeaderSize = 5;

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

    public static CompletionRequest Request()
    {
        var request = new CompletionRequest
        {
            Model = "gpt-4o-mini",
            MaxTokens = 1024,
            Temperature = 0.2,
            TopP = 0.95,
            Seed = 1234,
            User = "user-7f3a2c91",
            ToolChoice = new ToolChoice { Mode = ToolChoiceMode.Auto },
            Routing = new RoutingOptions { FallbackModels = { "claude-3-5-haiku", "gemini-1.5-flash" } },
            Stop = { "</answer>" },
            Metadata =
            {
                ["team"] = "support",
                ["feature"] = "help-center-chat",
                ["trace"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            },
        };

        request.Messages.Add(new Message
        {
            Role = Role.System,
            Content = "You are the support assistant for Acme Cloud. Answer in the user's language, "
                + "cite the documentation page you used as a markdown link, and keep answers under "
                + "200 words unless the user asks for detail. Never invent configuration keys: if a "
                + "setting is not in the documentation, say so and suggest opening a ticket. When the "
                + "question is about billing, call the lookup_invoice tool instead of guessing amounts. "
                + "When the question is about an outage, call search_docs with the service name and "
                + "'status' first. Format code as fenced blocks with the language named.",
        });
        request.Messages.Add(new Message { Role = Role.User, Content = "Why did my March invoice go up by 40%? Account acme-eu-7731." });
        request.Messages.Add(new Message
        {
            Role = Role.Assistant,
            ToolCalls =
            {
                new ToolCall { Id = "call_Qm3v8Yb2", Name = "lookup_invoice", ArgumentsJson = "{\"account\":\"acme-eu-7731\",\"month\":\"2024-03\"}" },
            },
        });
        request.Messages.Add(new Message
        {
            Role = Role.Tool,
            ToolCallId = "call_Qm3v8Yb2",
            Content = "{\"account\":\"acme-eu-7731\",\"month\":\"2024-03\",\"total_eur\":1843.20,\"previous_total_eur\":1312.75,"
                + "\"lines\":[{\"item\":\"compute.vcpu_hours\",\"eur\":1201.10},{\"item\":\"storage.gb_months\",\"eur\":388.40},"
                + "{\"item\":\"egress.gb\",\"eur\":253.70}]}",
        });
        request.Messages.Add(new Message
        {
            Role = Role.Assistant,
            Content = "Your March total was EUR 1,843.20 against EUR 1,312.75 in February. Most of the increase is "
                + "compute (vCPU hours) and egress; storage barely moved.",
        });
        request.Messages.Add(new Message { Role = Role.User, Content = "Which instances used the extra vCPU hours, and can I cap that?" });

        request.Tools.Add(new Tool
        {
            Name = "lookup_invoice",
            Description = "Fetch one month's invoice for an account, with its line items.",
            Strict = true,
            Parameters = Struct.Parser.ParseJson(
                "{\"type\":\"object\",\"properties\":{\"account\":{\"type\":\"string\",\"description\":\"Account id\"},"
                + "\"month\":{\"type\":\"string\",\"pattern\":\"^[0-9]{4}-[0-9]{2}$\"}},\"required\":[\"account\",\"month\"],"
                + "\"additionalProperties\":false}"),
        });
        request.Tools.Add(new Tool
        {
            Name = "search_docs",
            Description = "Full-text search over the product documentation; returns the top pages with snippets.",
            Parameters = Struct.Parser.ParseJson(
                "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"},\"limit\":{\"type\":\"integer\",\"minimum\":1,"
                + "\"maximum\":10}},\"required\":[\"query\"]}"),
        });
        return request;
    }

    /// <summary>One streamed answer: start, <paramref name="deltas"/> text deltas, usage, finish.</summary>
    public static List<CompletionChunk> ChunkStream(int deltas)
    {
        var chunks = new List<CompletionChunk>(deltas + 3)
        {
            new CompletionChunk
            {
                Start = new StreamStart
                {
                    Id = "cmpl-01J9Z6Q8W4K7M2T5R3X1V0B8N6",
                    Model = "gpt-4o-mini",
                    Provider = "openai",
                    Deployment = "openai-eu",
                    Created = 1_732_000_000,
                },
            },
        };
        for (var i = 0; i < deltas; i++)
        {
            chunks.Add(new CompletionChunk { Delta = new TextDelta { Text = Word(i) } });
        }

        chunks.Add(new CompletionChunk { Usage = new Usage { InputTokens = 412, OutputTokens = deltas, CostUsd = 0.000_182 } });
        chunks.Add(new CompletionChunk
        {
            Finish = new Finish
            {
                Reason = FinishReason.Stop,
                Routing = new RoutingInfo
                {
                    Deployment = "openai-eu",
                    Provider = "openai",
                    Attempts =
                    {
                        new Attempt { Number = 1, Deployment = "openai-eu", Provider = "openai", Outcome = AttemptOutcome.Success, Latency = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(2310)) },
                    },
                },
            },
        });
        return chunks;
    }

    /// <summary>A value that depends on every decoded chunk, so no decode can be skipped.</summary>
    public static int Checksum(CompletionChunk chunk) => chunk.EventCase == CompletionChunk.EventOneofCase.Delta ? chunk.Delta.Text.Length : 1;

    /// <summary>Length-prefixed messages back to back, uncompressed (flag 0).</summary>
    public static byte[] Frames(IEnumerable<IMessage> messages)
    {
        var output = new MemoryStream();
        foreach (var message in messages)
        {
            WriteFrame(output, message.ToByteArray(), compressed: false);
        }

        return output.ToArray();
    }

    /// <summary>One length-prefixed message; gzip-compressed (flag 1) when asked.</summary>
    public static byte[] Frame(IMessage message, bool gzip)
    {
        var payload = message.ToByteArray();
        if (gzip)
        {
            var compressed = new MemoryStream();
            using (var deflater = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
            {
                deflater.Write(payload);
            }

            payload = compressed.ToArray();
        }

        var output = new MemoryStream();
        WriteFrame(output, payload, gzip);
        return output.ToArray();
    }

    private static void WriteFrame(MemoryStream output, byte[] payload, bool compressed)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        header[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(header[1..], (uint)payload.Length);
        output.Write(header);
        output.Write(payload);
    }
}
