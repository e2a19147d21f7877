// Calls a running gateway: one unary completion, one streamed completion, on model "sim-small".
//   dotnet run --project src/Clients/csharp/examples -- http://127.0.0.1:50051
// Set GATEWAY_API_KEY when the gateway requires an API key.
using Gateway.Grpc.Client;
using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Client;
using Gateway.V1;

var address = args.Length > 0 ? args[0] : "http://127.0.0.1:50051";
var model = args.Length > 1 ? args[1] : "sim-small";

using var client = GatewayClient.Create(address, new GatewayClientOptions
{
    ApiKey = Environment.GetEnvironmentVariable("GATEWAY_API_KEY"),
    DefaultTimeout = TimeSpan.FromSeconds(30),
});

var request = new CompletionRequest
{
    Model = model,
    Messages = { new Message { Role = Role.User, Content = "Say hello in five words." } },
    MaxTokens = 64,
};

try
{
    // Unary, with an explicit 10 s deadline.
    var response = await client.Completion.CompleteAsync(request, new CallOptions().WithTimeout(TimeSpan.FromSeconds(10)));
    Console.WriteLine($"complete ({response.Model}, {response.FinishReason}): {response.Message?.Content}");

    // Streaming: text arrives as delta events; Ctrl+C cancels the call.
    using var cts = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        cts.Cancel();
    };
    Console.Write("stream: ");
    await foreach (var chunk in client.Completion.StreamComplete(request, cancellationToken: cts.Token))
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

    return 0;
}
catch (RpcException ex)
{
    Console.Error.WriteLine($"call failed: {ex.StatusCode} {ex.Status.Detail}");
    return 1;
}
