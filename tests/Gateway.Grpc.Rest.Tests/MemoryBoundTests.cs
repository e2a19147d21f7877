using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Gateway.Grpc.TestSupport;
using Gateway.V1;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace Gateway.Grpc.Rest.Tests;

/// <summary>
/// Oversized requests must not leave the gateway bigger than they found it: a real gateway
/// process (<c>dotnet Gateway.Grpc.Server.dll</c>, the embedded default, idle trim after 2 s)
/// takes 100 oversized requests on both doors; after the idle trim its resident set is within
/// 50 MB of where it was before them.
/// </summary>
public sealed class MemoryBoundTests(ITestOutputHelper output)
{
    private const long AllowedGrowthBytes = 50L * 1024 * 1024;

    /// <summary>
    /// The one-time growth of the first oversized requests (pools filling; observed +30 to +41 MB):
    /// bounded separately, so that a first request that leaves something big behind fails the test
    /// instead of hiding in the warm-up. The balloon was +900 MB for three requests.
    /// </summary>
    private const long AllowedFirstUseGrowthBytes = 100L * 1024 * 1024;

    [Fact]
    public async Task HundredOversizedRequests_RssBackWithin50MbAfterIdleTrim()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Fail("This test reads VmRSS from /proc: run it on Linux.");
        }

        await using var gateway = await TrimmingGateway.StartAsync();
        using var http = new HttpClient { BaseAddress = gateway.Http, Timeout = TimeSpan.FromSeconds(60) };
        using var channel = GrpcChannel.ForAddress(gateway.Grpc, new GrpcChannelOptions { MaxSendMessageSize = null });
        var grpc = new Completion.CompletionClient(channel);

        var tenMegabytePrompt = Body(string.Concat(Enumerable.Repeat("word ", 2_000_000)));
        var oneMegabytePrompt = Body(string.Concat(Enumerable.Repeat("word ", 200_000)));
        var overTheBodyLimit = new byte[(16 * 1024 * 1024) + 1];
        var threeMegabyteGrpcPrompt = new CompletionRequest { Model = "sim-small", Messages = { new Message { Role = Role.User, Content = string.Concat(Enumerable.Repeat("word ", 600_000)) } } };

        async Task OversizedAsync(int i)
        {
            switch (i % 4)
            {
                case 0:
                    await ExpectStatusAsync(http, Post(tenMegabytePrompt), HttpStatusCode.BadRequest, "maxPromptChars");
                    break;
                case 1:
                    var request = Post(overTheBodyLimit);
                    request.Headers.ExpectContinue = true;
                    await ExpectStatusAsync(http, request, HttpStatusCode.RequestEntityTooLarge, "request_too_large");
                    break;
                case 2:
                    await ExpectStatusAsync(http, Post(oneMegabytePrompt), HttpStatusCode.BadRequest, "context_length_exceeded");
                    break;
                default:
                    var failure = await Assert.ThrowsAsync<RpcException>(() => grpc.CompleteAsync(threeMegabyteGrpcPrompt, deadline: DateTime.UtcNow.AddSeconds(60)).ResponseAsync);
                    Assert.Equal(StatusCode.InvalidArgument, failure.StatusCode);
                    Assert.Equal("context_length_exceeded", failure.Trailers.GetValue("gateway-error-kind"));
                    break;
            }
        }

        // A gateway that has served normal traffic on both doors, the tokenizer included (a
        // 4,000-word prompt is past the byte bound, so it is counted), then trimmed: the
        // baseline no oversized request has touched.
        var normalPrompt = string.Concat(Enumerable.Repeat("word ", 4_000));
        using (var ok = await http.PostAsync("/v1/chat/completions", new StringContent("{\"model\":\"sim-small\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"" + normalPrompt + "\"}]}", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        var served = await grpc.CompleteAsync(new CompletionRequest { Model = "sim-small", MaxTokens = 3, Messages = { new Message { Role = Role.User, Content = normalPrompt } } }, deadline: DateTime.UtcNow.AddSeconds(30));
        Assert.False(string.IsNullOrEmpty(served.Message.Content));
        await gateway.WaitForTrimAsync(TimeSpan.FromSeconds(30));
        var normal = gateway.RssBytes();

        // Warm-up: each kind of refusal a few times. The buffer pools a large request passes
        // through (Kestrel's block pool, the shared ArrayPool) fill on first use and stay,
        // bounded; that one-time growth has its own bound, so a first request that left
        // something big behind cannot hide in the warm-up. Where the gateway settles after it is
        // where it "started": the test is that oversized requests do not add to it.
        for (var i = 0; i < 40; i++)
        {
            await OversizedAsync(i);
        }

        await gateway.WaitForTrimAsync(TimeSpan.FromSeconds(30));
        var start = gateway.RssBytes();
        output.WriteLine($"RSS: after normal calls {Mb(normal)} MB, after 40 oversized warm-up requests {Mb(start)} MB");
        Assert.True(start - normal <= AllowedFirstUseGrowthBytes, $"RSS grew from {Mb(normal)} MB to {Mb(start)} MB over the first 40 oversized requests and an idle trim (allowed: 100 MB). Gateway log:\n{gateway.Log()}");

        long peak = 0;
        for (var i = 0; i < 100; i++)
        {
            await OversizedAsync(i);
            peak = Math.Max(peak, gateway.RssBytes());
        }

        var afterBurst = gateway.RssBytes();
        await gateway.WaitForTrimAsync(TimeSpan.FromSeconds(30));
        var end = gateway.RssBytes();
        output.WriteLine($"RSS: start {Mb(start)} MB, peak during the burst {Mb(peak)} MB, after it {Mb(afterBurst)} MB, after the idle trim {Mb(end)} MB");
        Assert.True(end - start <= AllowedGrowthBytes, $"RSS grew from {Mb(start)} MB to {Mb(end)} MB after 100 oversized requests and an idle trim (allowed: 50 MB). Gateway log:\n{gateway.Log()}");

        // Still serving.
        var response = await grpc.CompleteAsync(new CompletionRequest { Model = "sim-small", MaxTokens = 3, Messages = { new Message { Role = Role.User, Content = "hi" } } }, deadline: DateTime.UtcNow.AddSeconds(30));
        Assert.False(string.IsNullOrEmpty(response.Message.Content));
    }

    private static byte[] Body(string content) => Encoding.UTF8.GetBytes("{\"model\":\"sim-small\",\"messages\":[{\"role\":\"user\",\"content\":\"" + content + "\"}]}");

    private static HttpRequestMessage Post(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = content };
    }

    private static async Task ExpectStatusAsync(HttpClient http, HttpRequestMessage request, HttpStatusCode status, string fragment)
    {
        using (request)
        using (var response = await http.SendAsync(request))
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == status, $"expected {status}, got {response.StatusCode}: {body}");
            Assert.Contains(fragment, body, StringComparison.Ordinal);
        }
    }

    private static string Mb(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("0.0", CultureInfo.InvariantCulture);

    /// <summary>
    /// The gateway as its own process (tests/Shared/GatewayProcess.cs) in a work directory of its
    /// own, on the embedded default with an idle trim 2 s after the last call, at Debug so its
    /// trims show in the log (event IdleTrim), which the test waits for.
    /// </summary>
    private sealed class TrimmingGateway : IAsyncDisposable
    {
        private readonly string _workDir;
        private GatewayProcess? _process;
        private int _trims;

        private TrimmingGateway(string workDir)
        {
            _workDir = workDir;
        }

        public Uri Grpc => Process.GrpcAddress;

        public Uri Http => Process.HttpAddress;

        private GatewayProcess Process => _process ?? throw new InvalidOperationException("not started");

        public static async Task<TrimmingGateway> StartAsync()
        {
            var gateway = new TrimmingGateway(Directory.CreateTempSubdirectory("gw-memory-").FullName);
            try
            {
                gateway._process = await GatewayProcess.StartAsync(
                    new Dictionary<string, string?> { ["store:kind"] = "memory", ["idleTrimSeconds"] = "2", ["logLevel"] = "Debug" },
                    gateway._workDir,
                    gateway.OnLine);
                return gateway;
            }
            catch
            {
                // A gateway that did not come up still leaves no directory behind.
                await gateway.DisposeAsync();
                throw;
            }
        }

        public long RssBytes()
        {
            foreach (var line in File.ReadLines($"/proc/{Process.ProcessId}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
                }
            }

            throw new InvalidOperationException("VmRSS not found");
        }

        /// <summary>Waits for the next idle trim the gateway logs.</summary>
        public async Task WaitForTrimAsync(TimeSpan timeout)
        {
            var seen = Volatile.Read(ref _trims);
            var deadline = DateTime.UtcNow + timeout;
            while (Volatile.Read(ref _trims) == seen)
            {
                Assert.True(DateTime.UtcNow < deadline, $"no idle trim within {timeout.TotalSeconds} s:\n{Log()}");
                await Task.Delay(100);
            }

            // The trim's collection has run; give the OS a moment to account the decommitted pages.
            await Task.Delay(500);
        }

        /// <summary>The last 8,000 characters of the gateway's output.</summary>
        public string Log()
        {
            var text = Process.Output;
            return text.Length <= 8000 ? text : text[^8000..];
        }

        public async ValueTask DisposeAsync()
        {
            if (_process is not null)
            {
                await _process.DisposeAsync();
            }

            Directory.Delete(_workDir, recursive: true);
        }

        private void OnLine(string line)
        {
            if (line.Contains("compacted the heap", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _trims);
            }
        }
    }
}
