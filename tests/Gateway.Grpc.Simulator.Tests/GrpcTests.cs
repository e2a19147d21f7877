using Gateway.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace Gateway.Grpc.Simulator.Tests;

[Collection("Simulator")]
public sealed class GrpcTests : IDisposable
{
    private readonly SimulatorFixture _sim;

    public GrpcTests(SimulatorFixture sim)
    {
        _sim = sim;
        _sim.Reset();
    }

    public void Dispose() => _sim.Reset();

    private static CompletionRequest Hello(string model = "sim-small") => new()
    {
        Model = model,
        Messages = { new Message { Role = Role.User, Content = "Say hello to the gateway." } },
    };

    private static CallOptions With(params (string Key, string Value)[] metadata)
    {
        var headers = new Metadata();
        foreach (var (key, value) in metadata)
        {
            headers.Add(key, value);
        }

        return new CallOptions(headers: headers, deadline: DateTime.UtcNow.AddSeconds(30));
    }

    [Fact]
    public async Task Complete_ReturnsTextUsageAndStop()
    {
        var response = await _sim.Completion.CompleteAsync(Hello(), With());

        Assert.Equal(Role.Assistant, response.Message.Role);
        Assert.NotEmpty(response.Message.Content);
        Assert.Equal(FinishReason.Stop, response.FinishReason);
        Assert.Equal("simulator", response.Provider);
        Assert.True(response.Usage.InputTokens > 0);
        Assert.True(response.Usage.OutputTokens > 0);
    }

    [Fact]
    public async Task StreamComplete_StartDeltasUsageThenFinishLast()
    {
        using var call = _sim.Completion.StreamComplete(Hello(), With((SimulatorHeaders.OutputTokens, "6")));
        var chunks = new List<CompletionChunk>();
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            chunks.Add(chunk);
        }

        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal(CompletionChunk.EventOneofCase.Start, chunks[0].EventCase);
        Assert.Equal(6, chunks.Count(c => c.EventCase == CompletionChunk.EventOneofCase.Delta));
        Assert.Equal(CompletionChunk.EventOneofCase.Usage, chunks[^2].EventCase);
        Assert.Equal(6, chunks[^2].Usage.OutputTokens);
        Assert.Equal(CompletionChunk.EventOneofCase.Finish, chunks[^1].EventCase);
        Assert.Equal(FinishReason.Stop, chunks[^1].Finish.Reason);
        var unary = await _sim.Completion.CompleteAsync(Hello(), With((SimulatorHeaders.OutputTokens, "6")));
        Assert.Equal(unary.Message.Content, string.Concat(chunks.Where(c => c.EventCase == CompletionChunk.EventOneofCase.Delta).Select(c => c.Delta.Text)));
    }

    [Fact]
    public async Task StreamComplete_ToolCall_IdAndNameOnFirstDelta()
    {
        var request = Hello();
        request.Messages[0].Content = "What is the weather in Paris?";
        var parameters = Struct.Parser.ParseJson("""{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}""");
        request.Tools.Add(new Tool { Name = "get_weather", Parameters = parameters });
        using var call = _sim.Completion.StreamComplete(request, With());
        var deltas = new List<ToolCallDelta>();
        FinishReason? finish = null;
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            if (chunk.EventCase == CompletionChunk.EventOneofCase.ToolCallDelta)
            {
                deltas.Add(chunk.ToolCallDelta);
            }
            else if (chunk.EventCase == CompletionChunk.EventOneofCase.Finish)
            {
                finish = chunk.Finish.Reason;
            }
        }

        Assert.Equal(FinishReason.ToolCalls, finish);
        Assert.Equal("get_weather", deltas[0].Name);
        Assert.StartsWith("call_", deltas[0].Id, StringComparison.Ordinal);
        Assert.All(deltas.Skip(1), d => Assert.Equal("", d.Name));
        using var arguments = System.Text.Json.JsonDocument.Parse(string.Concat(deltas.Select(d => d.ArgumentsDelta)));
        Assert.Equal(System.Text.Json.JsonValueKind.String, arguments.RootElement.GetProperty("location").ValueKind);
    }

    [Fact]
    public async Task Status429Metadata_ResourceExhaustedWithRetryTrailer()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => _sim.Completion.CompleteAsync(Hello(), With((SimulatorHeaders.Status, "429"))).ResponseAsync);

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Equal("1000", ex.Trailers.GetValue("retry-after-ms"));
    }

    [Fact]
    public async Task GrpcStatusMetadata_SetsTheCodeDirectly()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => _sim.Completion.CompleteAsync(Hello(), With((SimulatorHeaders.GrpcStatus, "14"))).ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
    }

    [Fact]
    public async Task ScriptedFault_MatchesGrpcApi()
    {
        _sim.State.EnqueueFault(new FaultScript { Api = "grpc", Status = 503 });

        var ex = await Assert.ThrowsAsync<RpcException>(() => _sim.Completion.CompleteAsync(Hello(), With()).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        var ok = await _sim.Completion.CompleteAsync(Hello(), With());
        Assert.NotEmpty(ok.Message.Content);
    }

    [Fact]
    public async Task DisconnectAfter_StreamEndsWithoutFinish()
    {
        using var call = _sim.Completion.StreamComplete(Hello(), With((SimulatorHeaders.DisconnectAfter, "2")));
        var chunks = new List<CompletionChunk>();
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var chunk in call.ResponseStream.ReadAllAsync())
            {
                chunks.Add(chunk);
            }
        });

        Assert.NotEqual(StatusCode.OK, ex.StatusCode);
        Assert.Equal(2, chunks.Count(c => c.EventCase == CompletionChunk.EventOneofCase.Delta));
        Assert.DoesNotContain(chunks, c => c.EventCase == CompletionChunk.EventOneofCase.Finish);
    }

    [Fact]
    public async Task ErrorAfter_StatusAfterNDeltasWithoutFinish()
    {
        using var call = _sim.Completion.StreamComplete(Hello(), With((SimulatorHeaders.ErrorAfter, "3"), (SimulatorHeaders.Status, "503")));
        var chunks = new List<CompletionChunk>();
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var chunk in call.ResponseStream.ReadAllAsync())
            {
                chunks.Add(chunk);
            }
        });

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        Assert.Equal(3, chunks.Count(c => c.EventCase == CompletionChunk.EventOneofCase.Delta));
        Assert.DoesNotContain(chunks, c => c.EventCase == CompletionChunk.EventOneofCase.Finish);
    }

    [Fact]
    public async Task Malformed_ClientCannotParseTheMessage()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => _sim.Completion.CompleteAsync(Hello(), With((SimulatorHeaders.Malformed, "1"))).ResponseAsync);

        // Grpc.Net.Client reports a message it cannot parse as UNAVAILABLE with the parser's exception.
        Assert.IsType<Google.Protobuf.InvalidProtocolBufferException>(ex.Status.DebugException);
    }

    [Fact]
    public async Task Malformed_Stream_StartThenUnparsableMessage()
    {
        using var call = _sim.Completion.StreamComplete(Hello(), With((SimulatorHeaders.Malformed, "1")));
        var chunks = new List<CompletionChunk>();
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var chunk in call.ResponseStream.ReadAllAsync())
            {
                chunks.Add(chunk);
            }
        });

        Assert.IsType<Google.Protobuf.InvalidProtocolBufferException>(ex.Status.DebugException);
        Assert.Equal([CompletionChunk.EventOneofCase.Start], chunks.Select(c => c.EventCase));
    }

    [Theory]
    [InlineData("")]
    [InlineData("gateway.v1.Completion")]
    [InlineData("gateway.v1.Models")]
    public async Task Health_ServerAndServices_Serving(string service)
    {
        var health = new global::Grpc.Health.V1.Health.HealthClient(_sim.Channel);

        var response = await health.CheckAsync(new global::Grpc.Health.V1.HealthCheckRequest { Service = service }, With());

        Assert.Equal(global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, response.Status);
    }

    [Fact]
    public async Task Reflection_V1_ListsGatewayServices()
    {
        var reflection = new global::Grpc.Reflection.V1.ServerReflection.ServerReflectionClient(_sim.Channel);
        using var call = reflection.ServerReflectionInfo(With());

        await call.RequestStream.WriteAsync(new global::Grpc.Reflection.V1.ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));

        var names = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("gateway.v1.Completion", names);
        Assert.Contains("gateway.v1.Models", names);
    }

    [Fact]
    public async Task ListModels_ListsConfiguredModels()
    {
        var response = await _sim.Models.ListModelsAsync(new ListModelsRequest(), With());

        Assert.Contains(response.Models, m => m.Id == "sim-small" && m.Deployments.Count == 1);
    }

    [Fact]
    public async Task StreamComplete_ClientCancels_RecordedAsAborted()
    {
        using var cts = new CancellationTokenSource();
        var call = _sim.Completion.StreamComplete(Hello(), new CallOptions(
            headers: [new Metadata.Entry(SimulatorHeaders.TokensPerSecond, "20"), new Metadata.Entry(SimulatorHeaders.OutputTokens, "200")],
            cancellationToken: cts.Token));
        var headers = await call.ResponseHeadersAsync;
        var id = long.Parse(headers.GetValue(SimulatorHeaders.RequestId)!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));

        await cts.CancelAsync();
        call.Dispose();

        var record = await _sim.State.WaitForAbortAsync(id).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(record.Aborted);
        Assert.Equal("grpc", record.Api);
        Assert.Null(record.GrpcStatus);
    }

    [Fact]
    public async Task Hang_DeadlineExceededAndRecordedAsEnded()
    {
        // Warm the connection first: the deadline is for the hanging call, not for connecting.
        await _sim.Completion.CompleteAsync(Hello());
        var options = new CallOptions(headers: [new Metadata.Entry(SimulatorHeaders.Hang, "1")], deadline: DateTime.UtcNow.AddMilliseconds(1000));

        using var call = _sim.Completion.CompleteAsync(Hello(), options);
        var headers = await call.ResponseHeadersAsync;
        var id = long.Parse(headers.GetValue(SimulatorHeaders.RequestId)!, System.Globalization.CultureInfo.InvariantCulture);

        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);

        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        var record = await _sim.State.WaitForEndAsync(id).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("hang", record.Faults);
        // The client's and the server's timers race: either the server ended the call with
        // DEADLINE_EXCEEDED, or the client's own deadline reset the stream first (then aborted).
        Assert.True(record.GrpcStatus == (int)StatusCode.DeadlineExceeded || record.Aborted, $"status {record.GrpcStatus}, aborted {record.Aborted}");
    }
}
