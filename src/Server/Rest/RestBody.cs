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

    public static async Task<(JsonDocument? Document, RestError? Error)> ReadJsonAsync(HttpContext httpContext, long maxBytes, bool allowEmpty = false)
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
        var reader = request.BodyReader;
        byte[] bytes;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(httpContext.RequestAborted).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (buffer.Length > maxBytes)
                {
                    reader.AdvanceTo(buffer.End);
                    return (null, TooLarge(maxBytes, null));
                }

                if (result.IsCompleted)
                {
                    bytes = buffer.ToArray();
                    reader.AdvanceTo(buffer.End);
                    break;
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (BadHttpRequestException ex)
        {
            // Kestrel's own verdict on the framing: over MaxRequestBodySize (413), a chunked body
            // that breaks off or is malformed (400).
            return (null, ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? TooLarge(maxBytes, null)
                : RestErrorMapping.BadRequest("The request body could not be read: " + ex.Message, code: "invalid_body"));
        }

        if (bytes.Length == 0 || IsWhitespace(bytes))
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
            return (JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = MaxDepth }), null);
        }
        catch (JsonException ex)
        {
            // The message says what is wrong and where: "... LineNumber: 0 | BytePositionInLine: 12."
            return (null, RestErrorMapping.BadRequest("The request body is not valid JSON: " + ex.Message, code: "invalid_json"));
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

    private static RestError InvalidUtf8(byte[] bytes)
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

    private static bool IsWhitespace(byte[] bytes)
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
