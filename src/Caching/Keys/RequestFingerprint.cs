using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Gateway.V1;
using Google.Protobuf.WellKnownTypes;

namespace Gateway.Grpc.Caching.Keys;

/// <summary>
/// Hashes the parts of a request that decide its answer into cache keys. Each field is written
/// tagged and length-prefixed into SHA-256, so no two different requests share a byte stream;
/// JSON objects (tool parameters, schemas) are written with their keys sorted, so the order a
/// client happened to serialize them in does not matter. Left out: <c>metadata</c> (caller
/// tags, never sent to providers), <c>user</c> and <c>routing</c> (they do not change the answer).
/// </summary>
internal static class RequestFingerprint
{
    /// <summary>
    /// The exact-match key: partition, model group and the whole normalized request.
    /// </summary>
    public static string ExactKey(string partition, string modelGroup, CompletionRequest request)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var writer = new Writer(hash);
        writer.Text('P', partition);
        writer.Text('G', modelGroup);
        WriteContext(ref writer, request, skipMessage: -1);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// The semantic bucket: partition, model group and everything but the last user turn's text
    /// (earlier turns, system prompt, tools, format, sampling). Two prompts are compared by meaning
    /// only when all of that is identical; the last user turn is what gets embedded.
    /// </summary>
    public static string SemanticBucket(string partition, string modelGroup, CompletionRequest request, int lastUserTurn)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var writer = new Writer(hash);
        writer.Text('P', partition);
        writer.Text('G', modelGroup);
        writer.Number('L', lastUserTurn);
        WriteContext(ref writer, request, lastUserTurn);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// The index of the last message when it is a user turn of plain text (content and text parts
    /// only), and its text; -1 otherwise (no semantic lookup for images, audio or tool results).
    /// </summary>
    public static int LastUserText(CompletionRequest request, out string text)
    {
        text = "";
        var messages = request.Messages;
        if (messages.Count == 0 || messages[^1].Role != Role.User)
        {
            return -1;
        }

        var last = messages[^1];
        var builder = new StringBuilder(last.Content);
        foreach (var part in last.Parts)
        {
            if (part.PartCase != ContentPart.PartOneofCase.Text)
            {
                return -1;
            }

            if (builder.Length > 0)
            {
                builder.Append('\n');
            }

            builder.Append(part.Text);
        }

        text = builder.ToString();
        return string.IsNullOrWhiteSpace(text) ? -1 : messages.Count - 1;
    }

    private static void WriteContext(ref Writer writer, CompletionRequest request, int skipMessage)
    {
        writer.Number('n', request.Messages.Count);
        for (var i = 0; i < request.Messages.Count; i++)
        {
            var message = request.Messages[i];
            writer.Number('r', (int)message.Role);
            if (i == skipMessage)
            {
                continue;
            }

            writer.Text('c', message.Content);
            writer.Text('m', message.Name);
            writer.Text('i', message.ToolCallId);
            writer.Number('p', message.Parts.Count);
            foreach (var part in message.Parts)
            {
                switch (part.PartCase)
                {
                    case ContentPart.PartOneofCase.Text:
                        writer.Text('t', part.Text);
                        break;
                    case ContentPart.PartOneofCase.Image:
                        writer.Text('u', part.Image.Url);
                        writer.Bytes('d', part.Image.Data.Span);
                        writer.Text('y', part.Image.MediaType);
                        writer.Text('e', part.Image.Detail);
                        break;
                    case ContentPart.PartOneofCase.Audio:
                        writer.Bytes('a', part.Audio.Data.Span);
                        writer.Text('f', part.Audio.Format);
                        break;
                    default:
                        writer.Number('x', 0);
                        break;
                }
            }

            writer.Number('k', message.ToolCalls.Count);
            foreach (var call in message.ToolCalls)
            {
                writer.Text('I', call.Id);
                writer.Text('N', call.Name);
                writer.Text('A', call.ArgumentsJson);
            }
        }

        writer.Number('T', request.Tools.Count);
        foreach (var tool in request.Tools)
        {
            writer.Text('N', tool.Name);
            writer.Text('D', tool.Description);
            writer.Flag('S', tool.Strict);
            WriteStruct(ref writer, tool.Parameters);
        }

        var choice = request.ToolChoice;
        writer.Number('C', choice is null ? -1 : (int)choice.ChoiceCase);
        if (choice is not null)
        {
            writer.Number('M', (int)choice.Mode);
            writer.Text('F', choice.FunctionName);
        }

        var format = request.ResponseFormat;
        writer.Number('R', format is null ? -1 : (int)format.Type);
        if (format?.JsonSchema is { } schema)
        {
            writer.Text('N', schema.Name);
            writer.Text('D', schema.Description);
            writer.Flag('S', schema.Strict);
            WriteStruct(ref writer, schema.Schema);
        }

        writer.Number('x', request.HasMaxTokens ? request.MaxTokens : -1);
        writer.Double('t', request.HasTemperature ? request.Temperature : double.NaN);
        writer.Double('p', request.HasTopP ? request.TopP : double.NaN);
        writer.Number('s', request.HasSeed ? request.Seed : long.MinValue);
        writer.Flag('s', request.HasSeed);
        writer.Number('z', request.Stop.Count);
        foreach (var stop in request.Stop)
        {
            writer.Text('z', stop);
        }
    }

    private static void WriteStruct(ref Writer writer, Struct? value)
    {
        if (value is null)
        {
            writer.Number('{', -1);
            return;
        }

        writer.Number('{', value.Fields.Count);
        var names = new string[value.Fields.Count];
        value.Fields.Keys.CopyTo(names, 0);
        Array.Sort(names, StringComparer.Ordinal);
        foreach (var name in names)
        {
            writer.Text('k', name);
            WriteValue(ref writer, value.Fields[name]);
        }
    }

    private static void WriteValue(ref Writer writer, Value value)
    {
        switch (value.KindCase)
        {
            case Value.KindOneofCase.StringValue:
                writer.Text('"', value.StringValue);
                break;
            case Value.KindOneofCase.NumberValue:
                writer.Double('#', value.NumberValue);
                break;
            case Value.KindOneofCase.BoolValue:
                writer.Flag('b', value.BoolValue);
                break;
            case Value.KindOneofCase.StructValue:
                WriteStruct(ref writer, value.StructValue);
                break;
            case Value.KindOneofCase.ListValue:
                writer.Number('[', value.ListValue.Values.Count);
                foreach (var item in value.ListValue.Values)
                {
                    WriteValue(ref writer, item);
                }

                break;
            default:
                writer.Number('0', 0);
                break;
        }
    }

    /// <summary>Tagged, length-prefixed fields into the hash.</summary>
    private readonly ref struct Writer(IncrementalHash hash)
    {
        public void Text(char tag, string value)
        {
            Span<byte> head = stackalloc byte[5];
            var byteCount = Encoding.UTF8.GetByteCount(value);
            head[0] = (byte)tag;
            BinaryPrimitives.WriteInt32LittleEndian(head[1..], byteCount);
            hash.AppendData(head);
            if (byteCount <= 512)
            {
                Span<byte> bytes = stackalloc byte[byteCount];
                Encoding.UTF8.GetBytes(value, bytes);
                hash.AppendData(bytes);
            }
            else
            {
                hash.AppendData(Encoding.UTF8.GetBytes(value));
            }
        }

        public void Bytes(char tag, ReadOnlySpan<byte> value)
        {
            Span<byte> head = stackalloc byte[5];
            head[0] = (byte)tag;
            BinaryPrimitives.WriteInt32LittleEndian(head[1..], value.Length);
            hash.AppendData(head);
            hash.AppendData(value);
        }

        public void Number(char tag, long value)
        {
            Span<byte> field = stackalloc byte[9];
            field[0] = (byte)tag;
            BinaryPrimitives.WriteInt64LittleEndian(field[1..], value);
            hash.AppendData(field);
        }

        public void Double(char tag, double value) => Number(tag, BitConverter.DoubleToInt64Bits(value));

        public void Flag(char tag, bool value) => Number(tag, value ? 1 : 0);
    }
}
