using System.Text.Encodings.Web;
using System.Text.Json;

namespace Gateway.Grpc.Server.Rest;

internal static class RestJson
{
    /// <summary>
    /// JSON API output, not HTML: quotes, apostrophes and non-ASCII text stay as they are
    /// (the default encoder would write <c>\u0027</c> and escape every non-Latin letter).
    /// </summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
