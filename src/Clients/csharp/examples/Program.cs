// Calls a running gateway with the generated clients, registered by AddGatewayClients:
// list models, one unary completion, one streamed completion, and a deadline that expires.
//   dotnet run --project src/Clients/csharp/examples -- http://127.0.0.1:50051 sim-small
// Set GATEWAY_API_KEY when the gateway requires an API key.
using Gateway.Grpc.Client;
using Gateway.V1;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

var address = args.Length > 0 ? args[0] : "http://127.0.0.1:50051";
var model = args.Length > 1 ? args[1] : "sim-small";

var services = new ServiceCollection();
services.AddGatewayClients(o =>
{
    o.Address = new Uri(address);
    o.ApiKey = Environment.GetEnvironmentVariable("GATEWAY_API_KEY") is { Length: > 0 } key ? key : null;
    o.DefaultTimeout = TimeSpan.FromSeconds(30);
});
await using var provider = services.BuildServiceProvider();
var completion = provider.GetRequiredService<Completion.CompletionClient>();
var models = provider.GetRequiredService<Models.ModelsClient>();

var request = new CompletionRequest
{
    Model = model,
    Messages = { new Message { Role = Role.User, Content = "Say hello in five words." } },
    MaxTokens = 64,
};

try
{
    var list = await models.ListModelsAsync(new ListModelsRequest());
    Console.WriteLine("models: " + string.Join(", ", list.Models.Select(m => m.Id)));

    // Unary, with an explicit 10 s deadline (wins over DefaultTimeout).
    var response = await completion.CompleteAsync(request, deadline: DateTime.UtcNow.AddSeconds(10));
    Console.WriteLine($"complete ({response.Model}, {response.FinishReason}): {response.Message?.Content}");

    // Streaming: text arrives as delta events; Ctrl+C cancels the call.
    using var cts = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        cts.Cancel();
    };
    Console.Write("stream: ");
    await foreach (var chunk in completion.StreamEventsAsync(request, cancellationToken: cts.Token))
    {
        switch (chunk.EventCase)
        {
            case CompletionChunk.EventOneofCase.Delta:
                Console.Write(chunk.Delta.Text);
                break;
            case CompletionChunk.EventOneofCase.Usage:
                Console.WriteLine();
                Console.WriteLine($"usage: {chunk.Usage.InputTokens} in, {chunk.Usage.OutputTokens} out");
                break;
            case CompletionChunk.EventOneofCase.Finish:
                Console.WriteLine($"finish: {chunk.Finish.Reason}");
                break;
        }
    }

    // A deadline that has expired by the time the call starts: DEADLINE_EXCEEDED without a round trip.
    try
    {
        await completion.CompleteAsync(request, deadline: DateTime.UtcNow);
        Console.WriteLine("deadline: answered anyway");
    }
    catch (RpcException ex) when (ex.StatusCode == StatusCode.DeadlineExceeded)
    {
        Console.WriteLine("deadline: DEADLINE_EXCEEDED as expected");
    }

    return 0;
}
catch (RpcException ex)
{
    var kind = ex.Trailers.GetGatewayErrorKind();
    var retryAfter = ex.Trailers.GetGatewayRetryAfter();
    Console.Error.WriteLine($"call failed: {ex.StatusCode} {ex.Status.Detail}" + (kind is null ? "" : $" (kind {kind}, retry after {retryAfter?.TotalMilliseconds ?? 0} ms)"));
    return 1;
}
