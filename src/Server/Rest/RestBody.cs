using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Grpc.Server.Rest;

/// <summary>
/// Reads a JSON request body with a size limit; failures come back as a <see cref="RestError"/>.
/// A body that announces more than the limit is refused before a byte of it is read; a chunked
/// one is refused as soon as what arrived passes the limit, so no more than the limit is ever
/// buffered. Text must be UTF-8 (RFC 8259 section 8.1): bytes that are not get a 400 naming the
/// JSON field they sit in.
/// </summary>
internal static class RestBody
{
    /// <summary>Nesting the REST doors accept; deeper JSON is refused (protobuf's own recursion limit is 100).</summary>
    public const int MaxDepth = 64;

    /// <summary>The body as JSON (null when empty and <paramref name="allowEmpty"/>), or the error to answer.</summary>
    /// <param name="maxPromptChars">
    /// When the body is larger than this, a streamed pass over it first counts the characters of
    /// the strings under <c>messages</c> and <c>tools</c> (images and audio aside) and refuses a
    /// prompt over the limit before any document is built.
    /// </param>
    public static async Task<(JsonElement? Root, RestError? Error)> ReadJsonAsync(HttpContext httpContext, long maxBytes, bool allowEmpty = false, long maxPromptChars = long.MaxValue)
    {
        var request = httpContext.Request;
        // Lenient like OpenAI's API: curl -d sends a form content type by default, and the body is
        // judged as JSON whatever the header says. Only multipart bodies are refused outright.
        if (request.ContentType is { Length: > 0 } contentType && contentType.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase))
        {
            return (null, RestErrorMapping.BadRequest($"Content-Type '{contentType}' is not supported; send the body as application/json.", code: "unsupported_media_type") with { HttpStatus = StatusCodes.Status415UnsupportedMediaType });
        }

        if (request.ContentLength is { } announced && announced > maxBytes)
        {
            // Refused unread: Kestrel closes the connection rather than drain a body over its limit.
            LimitKestrel(httpContext, maxBytes);
            return (null, TooLarge(maxBytes, announced));
        }

        LimitKestrel(httpContext, maxBytes);
        var (body, length, tooLarge, framingError) = await CopyBodyAsync(httpContext, request.ContentLength, maxBytes).ConfigureAwait(false);
        if (tooLarge)
        {
            return (null, TooLarge(maxBytes, null));
        }

        if (framingError is not null)
        {
            return (null, framingError);
        }

        var bytes = body.AsSpan(0, length);
        if (bytes.IsEmpty || IsWhitespace(bytes))
        {
            return allowEmpty
                ? (null, null)
                : (null, RestErrorMapping.BadRequest("The request body is empty; send a JSON object.", code: "invalid_json"));
        }

        if (!Utf8.IsValid(bytes))
        {
            return (null, InvalidUtf8(bytes));
        }

        try
        {
            // A body shorter than the limit cannot hold more characters than it.
            if (bytes.Length > maxPromptChars && PromptChars(bytes, maxPromptChars) > maxPromptChars)
            {
                return (null, RestErrorMapping.BadRequest($"messages: the prompt holds more than {maxPromptChars} characters (messages, tool calls and tool definitions together); the limit is requestLimits:maxPromptChars. Shorten the prompt.", "messages", "invalid_request"));
            }

            return (Parse(bytes), null);
        }
        catch (JsonException ex)
        {
            // The message says what is wrong and where: "... LineNumber: 0 | BytePositionInLine: 12."
            return (null, RestErrorMapping.BadRequest("The request body is not valid JSON: " + ex.Message, code: "invalid_json"));
        }
    }

    /// <summary>
    /// Parses without ArrayPool buffers (<see cref="JsonElement.ParseValue"/>, unlike
    /// <c>JsonDocument.Parse</c>, rents nothing): the shared pool would keep a body-sized array
    /// alive for the life of the process after one large request, where a plain allocation goes
    /// back to the OS at the next idle trim. Nothing to dispose.
    /// </summary>
    private static JsonElement Parse(ReadOnlySpan<byte> bytes)
    {
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = MaxDepth });
        var document = JsonElement.ParseValue(ref reader);
        if (reader.Read())
        {
            // Read() throws for most trailing text; a second complete value lands here.
            throw new JsonException($"'{(char)bytes[(int)reader.TokenStartIndex]}' after the end of the JSON value. BytePositionInLine: {reader.TokenStartIndex}.");
        }

        return document;
    }

    /// <summary>
    /// Characters of the string values under the top-level <c>messages</c> and <c>tools</c>,
    /// except image and audio payloads (values of <c>url</c> and <c>data</c> keys), read as a
    /// stream without building a document; stops once past <paramref name="stopAbove"/>. Escape
    /// sequences count as the one character they stand for, or less, never more: the validator
    /// counts exactly later, so this pass may only refuse what it will refuse too.
    /// <para>
    /// Why a separate pass: System.Text.Json's document rents its row table from the shared
    /// ArrayPool, sized like the body; the pool keeps such arrays for the life of the process,
    /// so refusing a 10 MB prompt must not build one.
    /// </para>
    /// </summary>
    internal static long PromptChars(ReadOnlySpan<byte> json, long stopAbove)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MaxDepth });
        var section = "";
        var key = "";
        long total = 0;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    key = Encoding.UTF8.GetString(reader.ValueSpan);
                    if (reader.CurrentDepth == 1)
                    {
                        section = key;
                    }

                    break;
                case JsonTokenType.String when section is "messages" or "tools" && key is not ("url" or "data"):
                    // One contiguous body, so never a value sequence.
                    var raw = reader.ValueSpan;
                    long chars = Encoding.UTF8.GetCharCount(raw);
                    if (reader.ValueIsEscaped)
                    {
                        // "\n" is one character, "\u0041" too: take off one per backslash, four more per \u.
                        chars -= raw.Count((byte)'\\') + (4L * raw.Count("\\u"u8));
                    }

                    total += Math.Max(0, chars);
                    if (total > stopAbove)
                    {
                        return total;
                    }

                    break;
            }
        }

        return total;
    }

    /// <summary>
    /// Copies the body out of the request pipe as it arrives, into one array of its announced
    /// length (or a doubling one for a chunked body), and releases each piece of the pipe at
    /// once: Kestrel's buffer pool never holds more than a read's worth, and what is held is
    /// a plain array the GC gives back. Stops as soon as more than <paramref name="maxBytes"/> arrived.
    /// </summary>
    private static async Task<(byte[] Body, int Length, bool TooLarge, RestError? FramingError)> CopyBodyAsync(HttpContext httpContext, long? contentLength, long maxBytes)
    {
        var reader = httpContext.Request.BodyReader;
        var body = new byte[contentLength is { } announced ? (int)announced : (int)Math.Min(maxBytes + 1, 16 * 1024)];
        var length = 0;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(httpContext.RequestAborted).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (length + buffer.Length > maxBytes)
                {
                    reader.AdvanceTo(buffer.End);
                    return (body, length, true, null);
                }

                if (length + buffer.Length > body.Length)
                {
                    var grown = new byte[(int)Math.Min(maxBytes + 1, Math.Max(length + buffer.Length, (long)body.Length * 2))];
                    body.AsSpan(0, length).CopyTo(grown);
                    body = grown;
                }

                buffer.CopyTo(body.AsSpan(length));
                length += (int)buffer.Length;
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    return (body, length, false, null);
                }
            }
        }
        catch (BadHttpRequestException ex)
        {
            // Kestrel's own verdict on the framing: over MaxRequestBodySize (413), a chunked body
            // that breaks off or is malformed (400).
            return ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? (body, length, true, null)
                : (body, length, false, RestErrorMapping.BadRequest("The request body could not be read: " + ex.Message, code: "invalid_body"));
        }
    }

    private static void LimitKestrel(HttpContext httpContext, long maxBytes)
    {
        if (httpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = maxBytes;
        }
    }

    private static RestError TooLarge(long maxBytes, long? announced)
        => RestErrorMapping.BadRequest(
            (announced is { } n ? $"The request body is {n} bytes" : "The request body is larger than the limit")
            + $"; the gateway accepts at most {maxBytes} bytes (requestLimits:maxBodyBytes). Send a smaller request, or images by URL instead of base64.",
            code: "request_too_large") with { HttpStatus = StatusCodes.Status413PayloadTooLarge };

    private static RestError InvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        var offset = FirstInvalidUtf8(bytes);
        var path = JsonPathLocator.Find(bytes, offset);
        var where = string.IsNullOrEmpty(path) ? "The request body" : path;
        return RestErrorMapping.BadRequest(
            $"{where}: is not valid UTF-8 (byte {offset.ToString(CultureInfo.InvariantCulture)} of the body); send JSON text encoded as UTF-8.",
            string.IsNullOrEmpty(path) ? null : path,
            "invalid_encoding");
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        var i = 0;
        while (i < bytes.Length)
        {
            var next = bytes[i..].IndexOfAnyExceptInRange((byte)0, (byte)0x7F);
            if (next < 0)
            {
                break;
            }

            i += next;
            if (Rune.DecodeFromUtf8(bytes[i..], out _, out var length) != OperationStatus.Done)
            {
                return i;
            }

            i += length;
        }

        return Math.Max(0, bytes.Length - 1);
    }

    private static bool IsWhitespace(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>Finds the JSON path (<c>messages[1].content</c>) of the token that holds a byte offset.</summary>
internal static class JsonPathLocator
{
    /// <summary>The path of the value or property name spanning <paramref name="offset"/>; "" at the root, null if the JSON breaks first.</summary>
    public static string? Find(ReadOnlySpan<byte> json, long offset)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 1024 });
        // The path of each open container, and per container the next array index or the last property name.
        var paths = new List<string>();
        var frames = new List<Frame>();
        try
        {
            while (reader.Read())
            {
                var inside = offset >= reader.TokenStartIndex && offset < reader.BytesConsumed;
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        var name = Encoding.UTF8.GetString(reader.ValueSpan);
                        frames[^1].Name = name;
                        if (inside)
                        {
                            return Child(paths, frames);
                        }

                        break;
                    case JsonTokenType.StartObject:
                    case JsonTokenType.StartArray:
                        paths.Add(Child(paths, frames));
                        frames.Add(new Frame { IsArray = reader.TokenType == JsonTokenType.StartArray });
                        break;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                        paths.RemoveAt(paths.Count - 1);
                        frames.RemoveAt(frames.Count - 1);
                        Advance(frames);
                        break;
                    default:
                        if (inside)
                        {
                            return Child(paths, frames);
                        }

                        Advance(frames);
                        break;
                }
            }
        }
        catch (JsonException)
        {
            return null;
        }

        return null;
    }

    private static string Child(List<string> paths, List<Frame> frames)
    {
        if (frames.Count == 0)
        {
            return "";
        }

        var parent = paths[^1];
        var frame = frames[^1];
        return frame.IsArray
            ? parent + "[" + frame.Index.ToString(CultureInfo.InvariantCulture) + "]"
            : parent.Length == 0 ? frame.Name : parent + "." + frame.Name;
    }

    private static void Advance(List<Frame> frames)
    {
        if (frames.Count > 0 && frames[^1].IsArray)
        {
            frames[^1].Index++;
        }
    }

    private sealed class Frame
    {
        public bool IsArray { get; init; }

        public int Index { get; set; }

        public string Name { get; set; } = "";
    }
}
