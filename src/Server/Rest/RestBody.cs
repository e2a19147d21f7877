using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Server.Rest;

/// <summary>Reads a JSON request body with a size limit; failures come back as a <see cref="RestError"/>.</summary>
internal static class RestBody
{
    public static async Task<(JsonDocument? Document, RestError? Error)> ReadJsonAsync(HttpContext httpContext, long maxBytes, bool allowEmpty = false)
    {
        var request = httpContext.Request;
        // Lenient like OpenAI's API: curl -d sends a form content type by default, and the body is
        // judged as JSON whatever the header says. Only multipart bodies are refused outright.
        if (request.ContentType is { Length: > 0 } contentType && contentType.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase))
        {
            return (null, RestErrorMapping.BadRequest($"Content-Type '{contentType}' is not supported; send the body as application/json.", code: "unsupported_media_type") with { HttpStatus = StatusCodes.Status415UnsupportedMediaType });
        }

        var reader = request.BodyReader;
        byte[] bytes;
        while (true)
        {
            var result = await reader.ReadAsync(httpContext.RequestAborted).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (buffer.Length > maxBytes)
            {
                reader.AdvanceTo(buffer.End);
                return (null, RestErrorMapping.BadRequest($"The request body is larger than {maxBytes} bytes.", code: "request_too_large") with { HttpStatus = StatusCodes.Status413PayloadTooLarge });
            }

            if (result.IsCompleted)
            {
                bytes = buffer.ToArray();
                reader.AdvanceTo(buffer.End);
                break;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }

        if (bytes.Length == 0 || IsWhitespace(bytes))
        {
            return allowEmpty
                ? (null, null)
                : (null, RestErrorMapping.BadRequest("The request body is empty; send a JSON object.", code: "invalid_json"));
        }

        try
        {
            return (JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 128 }), null);
        }
        catch (JsonException ex)
        {
            // The message says what is wrong and where: "... LineNumber: 0 | BytePositionInLine: 12."
            return (null, RestErrorMapping.BadRequest("The request body is not valid JSON: " + ex.Message, code: "invalid_json"));
        }
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
