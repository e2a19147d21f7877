using System.Text;
using System.Text.Json;
using Gateway.Grpc.Adapters.Http;

namespace Gateway.Grpc.Adapters.Tests;

/// <summary>Request bodies written through the per-thread scratch buffer: exact, independent of the body before.</summary>
public sealed class JsonWritingTests
{
    private static async Task<string> BodyAsync(string text)
    {
        using var content = JsonWriting.Content(text, static (w, t) =>
        {
            w.WriteStartObject();
            w.WriteString("content", t);
            w.WriteEndObject();
        });
        Assert.Equal("application/json", content.Headers.ContentType!.MediaType);
        return Encoding.UTF8.GetString(await content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task ConsecutiveBodies_EachExact_NothingLeftFromTheOneBefore()
    {
        var large = new string('x', 10_000);
        Assert.Equal($"{{\"content\":\"{large}\"}}", await BodyAsync(large));
        Assert.Equal("{\"content\":\"hi\"}", await BodyAsync("hi"));
        var huge = new string('y', 200_000); // above what a thread keeps between bodies
        Assert.Equal(200_000, JsonDocument.Parse(await BodyAsync(huge)).RootElement.GetProperty("content").GetString()!.Length);
        Assert.Equal("é", JsonDocument.Parse(await BodyAsync("é")).RootElement.GetProperty("content").GetString());
    }

    [Fact]
    public async Task WriterThrows_NextBodyStillWellFormed()
    {
        Assert.Throws<InvalidOperationException>(() => JsonWriting.Content(0, static (w, _) =>
        {
            w.WriteStartObject();
            w.WriteString("half", "written");
            throw new InvalidOperationException("cut off");
        }));
        Assert.Equal("{\"content\":\"after\"}", await BodyAsync("after"));
    }
}
