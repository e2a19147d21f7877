using System.Net;
using System.Text;
using System.Text.Json;
using Gateway.Grpc.Adapters.Secrets;
using Gateway.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Adapters.Tests;

/// <summary>A provider stand-in: Kestrel on a free loopback port, answering with a per-test handler.</summary>
internal sealed class FakeUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeUpstream(WebApplication app, string baseUrl)
    {
        _app = app;
        BaseUrl = baseUrl;
    }

    public string BaseUrl { get; }

    public Func<HttpContext, Task> Handler { get; set; } = ctx => { ctx.Response.StatusCode = 500; return Task.CompletedTask; };

    /// <summary>The last request's path+query, headers and JSON body.</summary>
    public string? LastPathAndQuery { get; private set; }

    public IHeaderDictionary? LastHeaders { get; private set; }

    public JsonElement LastBody { get; private set; }

    public int Requests { get; private set; }

    public static async Task<FakeUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        FakeUpstream? self = null;
        app.Run(async ctx =>
        {
            var s = self!;
            s.Requests++;
            s.LastPathAndQuery = ctx.Request.Path + ctx.Request.QueryString;
            s.LastHeaders = new HeaderDictionary(ctx.Request.Headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.OrdinalIgnoreCase));
            using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
            var text = await reader.ReadToEndAsync();
            s.LastBody = text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default;
            await s.Handler(ctx);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new FakeUpstream(app, address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public static async Task Json(HttpContext ctx, string json, int status = 200)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(json);
    }

    /// <summary>Writes raw event-stream text, flushed, so that each piece reaches the client as sent.</summary>
    public static async Task Sse(HttpContext ctx, params string[] pieces)
    {
        ctx.Response.ContentType = "text/event-stream";
        foreach (var piece in pieces)
        {
            await ctx.Response.WriteAsync(piece);
            await ctx.Response.Body.FlushAsync();
        }
    }
}

internal static class Ports
{
    /// <summary>
    /// A loopback port nobody listens on, picked below the kernel's ephemeral range
    /// (tests/Shared/LoopbackPort.cs): a server another test binds to port 0 meanwhile cannot be
    /// handed it, so connecting to it is refused.
    /// </summary>
    public static int Closed() => Gateway.Grpc.TestSupport.LoopbackPort.Reserve();
}

/// <summary>Resolves env:/file: from a dictionary (tests must not depend on the process environment).</summary>
internal sealed class DictionarySecrets(Dictionary<string, string>? values = null) : ISecretResolver
{
    public Dictionary<string, string> Values { get; } = values ?? new() { ["env:TEST_KEY"] = "sk-test-123" };

    public string Resolve(string reference)
        => Values.TryGetValue(reference, out var v) ? v : throw new SecretResolutionException($"secret {reference} is not set.");
}

/// <summary>A clock that moves only when told.</summary>
internal sealed class ManualTime : TimeProvider
{
    private long _ticks;
    private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => _ticks;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by)
    {
        _ticks += by.Ticks;
        _now += by;
    }
}

internal static class Calls
{
    public static DeploymentInfo Deployment(string provider, string model, Dictionary<string, string> settings)
        => new("dep-1", provider, model) { Settings = new Dictionary<string, string>(settings, StringComparer.OrdinalIgnoreCase) };

    public static CompletionRequest Hello() => new()
    {
        Model = "public-model",
        Messages = { new Message { Role = Role.User, Content = "Hello" } },
    };

    public static async Task<List<CompletionChunk>> Collect(IAsyncEnumerable<CompletionChunk> stream, CancellationToken ct = default)
    {
        var list = new List<CompletionChunk>();
        await foreach (var chunk in stream.WithCancellation(ct))
        {
            list.Add(chunk);
        }

        return list;
    }

    /// <summary>Collects until the stream throws; returns what arrived and the exception.</summary>
    public static async Task<(List<CompletionChunk> Chunks, ProviderException Error)> CollectUntilError(IAsyncEnumerable<CompletionChunk> stream)
    {
        var list = new List<CompletionChunk>();
        try
        {
            await foreach (var chunk in stream)
            {
                list.Add(chunk);
            }
        }
        catch (ProviderException ex)
        {
            return (list, ex);
        }

        throw new Xunit.Sdk.XunitException("The stream ended without an error; events: " + string.Join(", ", list.Select(c => c.EventCase)));
    }

    public static string Text(IEnumerable<CompletionChunk> chunks)
        => string.Concat(chunks.Where(c => c.EventCase == CompletionChunk.EventOneofCase.Delta).Select(c => c.Delta.Text));
}

/// <summary>A stream that hands out at most N bytes per read (1 by default).</summary>
internal sealed class TrickleStream(byte[] data, int chunk = 1) : Stream
{
    private int _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => data.Length;

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public int Reads { get; private set; }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        Reads++;
        var n = Math.Min(Math.Min(chunk, buffer.Length), data.Length - _position);
        data.AsSpan(_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => Task.FromResult(Read(buffer, offset, count));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
