using System.Security.Cryptography;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Server;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Telemetry;
using Gateway.V1;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Services;

/// <summary>gateway.v1.Completion: validation, model resolution, dispatch, and the stream contract.</summary>
internal sealed partial class CompletionService(ModelCatalog catalog, Dispatcher dispatcher, TimeProvider timeProvider, CompletionTelemetry telemetry, ILogger<CompletionService> logger)
{
    public const string RequestIdHeader = "x-request-id";

    public ServerServiceDefinition CreateDefinition()
        => ServerServiceDefinition.CreateBuilder(CompletionMethods.ServiceName, CompletionReflection.Descriptor)
            .AddMethod(CompletionMethods.Complete, telemetry.Observe(CompleteAsync))
            .AddMethod(CompletionMethods.StreamComplete, telemetry.Observe(StreamCompleteAsync))
            .Build();

    public async Task<CompletionResponse> CompleteAsync(CompletionRequest request, ServerCallContext context)
    {
        var group = Resolve(request);
        var id = StartCall(context);
        var (response, routing) = await dispatcher.CompleteAsync(group, request, context.Deadline, context.CancellationToken).ConfigureAwait(false);
        response.Id = id;
        response.Created = timeProvider.GetUtcNow().ToUnixTimeSeconds();
        response.Routing = routing;
        return response;
    }

    /// <summary>
    /// Streams events. Retries, fallback and hedging are transparent until the first event; the
    /// stream's contract: OK only after <c>finish</c>; an upstream failure after output began
    /// becomes an <c>error</c> event and a non-OK status, never a finish.
    /// </summary>
    public async Task StreamCompleteAsync(CompletionRequest request, IServerStreamWriter<CompletionChunk> stream, ServerCallContext context)
    {
        var group = Resolve(request);
        var id = StartCall(context);
        var token = context.CancellationToken;
        await using var handle = await dispatcher.OpenStreamAsync(group, request, context.Deadline, token).ConfigureAwait(false);
        var deployment = handle.Deployment.Info;
        try
        {
            await stream.WriteAsync(new CompletionChunk
            {
                Start = new StreamStart
                {
                    Id = id,
                    Model = deployment.UpstreamModel,
                    Provider = deployment.Provider,
                    Deployment = deployment.Name,
                    Created = timeProvider.GetUtcNow().ToUnixTimeSeconds(),
                },
            }, token).ConfigureAwait(false);
            var chunk = handle.First;
            while (true)
            {
                if (chunk.EventCase == CompletionChunk.EventOneofCase.Finish)
                {
                    chunk.Finish.Routing = handle.Finish(AttemptOutcome.Success);
                    await stream.WriteAsync(chunk, token).ConfigureAwait(false);
                    return;
                }

                await stream.WriteAsync(chunk, token).ConfigureAwait(false);
                if (!await handle.Events.MoveNextAsync().ConfigureAwait(false))
                {
                    throw new ProviderException(ProviderErrorKind.StreamInterrupted, "The upstream stream ended without its terminal event.");
                }

                chunk = handle.Events.Current;
            }
        }
        catch (ProviderException ex)
        {
            // Output already reached the client: say why in-band, then fail the call.
            var routing = handle.Finish(AttemptOutcome.Failed, ex.KindName);
            var rpc = ErrorMapping.ToRpcException(ex, $"deployment '{deployment.Name}'");
            rpc.Trailers.Add("gateway-attempts", handle.AttemptsTrailer());
            await stream.WriteAsync(new CompletionChunk
            {
                Error = new StreamError { Code = (int)rpc.StatusCode, Message = rpc.Status.Detail, Kind = ex.KindName, Routing = routing },
            }, token).ConfigureAwait(false);
            throw rpc;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            handle.Finish(AttemptOutcome.Cancelled);
            Log.StreamCancelled(logger, id);
            throw;
        }
    }

    /// <summary>Takes the caller's x-request-id or makes one; it goes out with the response headers.</summary>
    private static string StartCall(ServerCallContext context)
    {
        var id = context.RequestHeaders.GetValue(RequestIdHeader) is { Length: > 0 and <= 128 } callerId
            ? callerId
            : "cmpl-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        context.GetHttpContext().Response.Headers[RequestIdHeader] = id;
        return id;
    }

    private ModelGroup Resolve(CompletionRequest request)
    {
        RequestValidator.Validate(request);
        if (catalog.TryGet(request.Model, out var group))
        {
            return group;
        }

        throw new RpcException(new Status(StatusCode.NotFound, $"model: '{request.Model}' not found. Available models: {string.Join(", ", catalog.Names)}."));
    }

    private static partial class Log
    {
        [LoggerMessage(100, LogLevel.Debug, "Stream {RequestId} cancelled by the caller.", EventName = "StreamCancelled")]
        public static partial void StreamCancelled(ILogger logger, string requestId);
    }
}
