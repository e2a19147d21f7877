using System.Net;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Simulator.Tests;

/// <summary>Uses its own simulator: the fault counter must start at zero.</summary>
public sealed class GlobalFaultRateTests
{
    [Fact]
    public async Task FaultRate_EveryFifthGenerationRequestFailsWithFaultStatus()
    {
        await using var app = SimulatorApp.Build(new SimulatorOptions { FaultRate = 0.2, FaultStatus = 529 });
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = app.GetHttpAddress() };

        var failed = new List<int>();
        for (var i = 1; i <= 10; i++)
        {
            var request = i % 2 == 0 ? Requests.Anthropic() : Requests.OpenAiChat();
            using var response = await http.SendAsync(request);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                Assert.Equal(529, (int)response.StatusCode);
                failed.Add(i);
            }
        }

        // Model listings do not count.
        var list = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        list.Headers.Add("authorization", "Bearer k");
        using var models = await http.SendAsync(list);
        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        Assert.Equal([5, 10], failed);
        var state = app.Services.GetRequiredService<SimulatorState>();
        Assert.Equal(["status:529"], state.Requests[4].Faults);
    }

    [Fact]
    public async Task ApiKeyOption_WrongKeyRejected()
    {
        await using var app = SimulatorApp.Build(new SimulatorOptions { ApiKey = "right" });
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = app.GetHttpAddress() };

        using var wrong = await http.SendAsync(Requests.OpenAiChat());
        var right = Requests.OpenAiChat();
        right.Headers.Authorization = new("Bearer", "right");
        using var ok = await http.SendAsync(right);

        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal("invalid_api_key", (await wrong.JsonAsync()).GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public void Build_BadOptions_ThrowsNamingEachOption()
    {
        var ex = Assert.Throws<ArgumentException>(() => SimulatorApp.Build(new SimulatorOptions { HttpAddress = "nowhere", FaultRate = 3, FaultStatus = 200 }));

        Assert.Contains("HttpAddress 'nowhere'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("FaultRate", ex.Message, StringComparison.Ordinal);
        Assert.Contains("FaultStatus", ex.Message, StringComparison.Ordinal);
    }
}
