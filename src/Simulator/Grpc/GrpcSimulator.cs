using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using Gateway.Grpc.Simulator.Faults;
using Gateway.Grpc.Simulator.Generation;
using Gateway.Grpc.Simulator.Internal;
using Gateway.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Simulator.Grpc;

/// <summary>
/// gateway.v1.Completion and gateway.v1.Models served by the simulator, with the same faults as
/// the HTTP APIs taken from request metadata (x-sim-*). Status faults map HTTP codes to gRPC
/// codes (429 RESOURCE_EXHAUSTED, 503/529 UNAVAILABLE, ...); x-sim-grpc-status sets one directly.
/// The grpc-dotnet services (<see cref="CompletionService"/>, <see cref="ModelsService"/>) are
/// created per call and delegate here.
/// </summary>
internal sealed partial class GrpcSimulator(SimulatorState state, SimulatorOptions options, TimeProvider timeProvider, ILogger<GrpcSimulator> logger)
{
    public const string Provider = "simulator";

    /// <summary>
    /// How long a disconnect waits after the last message before the reset. HttpClient drops DATA
    /// it holds but the caller has not read when RST_STREAM arrives, so the client needs a moment
    /// (cold JIT on a busy machine included) to read the tokens it was promised.
    /// </summary>
    private static readonly TimeSpan DisconnectGrace = TimeSpan.FromMilliseconds(500);

    /// <summary>Not a valid protobuf message: field 0 with wire type 7.</summary>
    private static readonly byte[] Garbage = [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x07];

    public async Task<CompletionResponse> CompleteAsync(CompletionRequest request, ServerCallContext context)
    {
        var record = Begin(request, context, stream: false);
        var grpcStatus = (int?)null;
        try
        {
            var faults = await PrepareAsync(request, context, record, stream: false).ConfigureAwait(false);
            var token = context.CancellationToken;
            var plan = Generator.Plan(ToSimRequest(request), faults.OutputTokens, faults.CachedTokens, faults.Echo);
            await new Pacer(timeProvider, faults.TtftMs, faults.TokensPerSecond).WholeAsync(plan.StreamUnits, token).ConfigureAwait(false);
            if (faults.DisconnectAfter is not null)
            {
                await context.WriteResponseHeadersAsync([]).ConfigureAwait(false);
                throw await DisconnectAsync(context, record).ConfigureAwait(false);
            }

            grpcStatus = 0;
            if (faults.Malformed)
            {
                // The garbage is the call's one message; an OK status then ends the call
                // without grpc-dotnet writing a response of its own.
                await context.WriteResponseHeadersAsync([]).ConfigureAwait(false);
                await WriteGarbageAsync(context, token).ConfigureAwait(false);
                throw new RpcException(Status.DefaultSuccess);
            }

            record.Served(plan.InputTokens, plan.OutputTokens);
            var message = new Message { Role = Role.Assistant, Content = plan.Text };
            foreach (var call in plan.ToolCalls)
            {
                message.ToolCalls.Add(new ToolCall { Id = "call_" + call.IdSuffix, Name = call.Name, ArgumentsJson = call.Arguments });
            }

            return new CompletionResponse
            {
                Id = CallId(record, plan),
                Model = request.Model,
                Provider = Provider,
                Message = message,
                FinishReason = Finish(plan.Finish),
                Usage = Usage(plan),
                Created = timeProvider.GetUtcNow().ToUnixTimeSeconds(),
            };
        }
        catch (RpcException ex)
        {
            grpcStatus = (int)ex.StatusCode;
            throw;
        }
        finally
        {
            End(record, context, grpcStatus);
        }
    }

    public async Task StreamCompleteAsync(CompletionRequest request, IServerStreamWriter<CompletionChunk> stream, ServerCallContext context)
    {
        var record = Begin(request, context, stream: true);
        var grpcStatus = (int?)null;
        try
        {
            var faults = await PrepareAsync(request, context, record, stream: true).ConfigureAwait(false);
            var token = context.CancellationToken;
            var plan = Generator.Plan(ToSimRequest(request), faults.OutputTokens, faults.CachedTokens, faults.Echo);
            var writer = new ChunkWriter(stream, context, faults.Malformed);
            var pacer = new Pacer(timeProvider, faults.TtftMs, faults.TokensPerSecond);
            await writer.WriteAsync(new CompletionChunk
            {
                Start = new StreamStart { Id = CallId(record, plan), Model = request.Model, Provider = Provider, Created = timeProvider.GetUtcNow().ToUnixTimeSeconds() },
            }).ConfigureAwait(false);
            pacer.Start();

            foreach (var text in plan.TextTokens)
            {
                await NextUnitAsync(pacer, faults, context, record).ConfigureAwait(false);
                await writer.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = text } }).ConfigureAwait(false);
            }

            for (var i = 0; i < plan.ToolCalls.Count; i++)
            {
                var call = plan.ToolCalls[i];
                if (call.Pieces.Count == 0)
                {
                    await writer.WriteAsync(new CompletionChunk { ToolCallDelta = new ToolCallDelta { Index = i, Id = "call_" + call.IdSuffix, Name = call.Name } }).ConfigureAwait(false);
                }

                for (var p = 0; p < call.Pieces.Count; p++)
                {
                    await NextUnitAsync(pacer, faults, context, record).ConfigureAwait(false);
                    var delta = new ToolCallDelta { Index = i, ArgumentsDelta = call.Pieces[p] };
                    if (p == 0)
                    {
                        delta.Id = "call_" + call.IdSuffix;
                        delta.Name = call.Name;
                    }

                    await writer.WriteAsync(new CompletionChunk { ToolCallDelta = delta }).ConfigureAwait(false);
                }
            }

            if (faults.DisconnectAfter is not null)
            {
                throw await DisconnectAsync(context, record).ConfigureAwait(false);
            }

            if (faults.ErrorAfter is not null)
            {
                throw StreamError(faults);
            }

            await writer.WriteAsync(new CompletionChunk { Usage = Usage(plan) }).ConfigureAwait(false);
            await writer.WriteAsync(new CompletionChunk { Finish = new Finish { Reason = Finish(plan.Finish) } }).ConfigureAwait(false);
            record.Served(plan.InputTokens, plan.OutputTokens);
            grpcStatus = 0;
        }
        catch (RpcException ex)
        {
            grpcStatus = (int)ex.StatusCode;
            throw;
        }
        finally
        {
            End(record, context, grpcStatus);
        }
    }

    public Task<ListModelsResponse> ListModelsAsync(ListModelsRequest request, ServerCallContext context)
    {
        var record = Begin(request, context, stream: false);
        try
        {
            Authorize(context);
            var response = new ListModelsResponse();
            foreach (var name in options.Models)
            {
                var model = new Model { Id = name, OwnedBy = Provider, ContextWindow = 131_072 };
                model.Deployments.Add(new DeploymentStatus { Name = name, Provider = Provider, State = DeploymentState.Healthy });
                response.Models.Add(model);
            }

            End(record, context, 0);
            return Task.FromResult(response);
        }
        catch (RpcException ex)
        {
            End(record, context, (int)ex.StatusCode);
            throw;
        }
    }

    /// <summary>Authenticates, resolves faults, applies latency, status and hang.</summary>
    private async Task<FaultSettings> PrepareAsync(CompletionRequest request, ServerCallContext context, RequestRecord record, bool stream)
    {
        Authorize(context);
        if (string.IsNullOrEmpty(request.Model))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "model: must not be empty."));
        }

        var faults = FaultResolver.Resolve(name => context.RequestHeaders.Get(name) is { IsBinary: false } entry ? entry.Value : null, "grpc", request.Model, state, out var headerError)
            ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "Invalid simulator metadata. " + headerError));
        faults.Describe(record);
        var token = context.CancellationToken;
        if (faults.LatencyMs > 0)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(faults.LatencyMs), timeProvider, token).ConfigureAwait(false);
        }

        if (faults.GrpcStatus is { } code && !(stream && faults.ErrorAfter is not null))
        {
            throw Failure((StatusCode)code, faults.Message ?? $"Simulated failure ({(StatusCode)code}).", faults);
        }

        if (faults.Status is { } status && !(stream && faults.ErrorAfter is not null))
        {
            Log.FaultInjected(logger, record.Id, status);
            throw Failure(MapHttpStatus(status), faults.Message ?? $"Simulated upstream HTTP {status}.", faults);
        }

        if (faults.Hang)
        {
            await context.WriteResponseHeadersAsync([]).ConfigureAwait(false);
            await Task.Delay(Timeout.InfiniteTimeSpan, timeProvider, token).ConfigureAwait(false);
        }

        return faults;
    }

    private void Authorize(ServerCallContext context)
    {
        if (options.ApiKey is not { } key)
        {
            return;
        }

        var authorization = context.RequestHeaders.GetValue("authorization") ?? "";
        if (!string.Equals(authorization, "Bearer " + key, StringComparison.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "Missing or invalid 'authorization: Bearer <key>' metadata."));
        }
    }

    private async Task NextUnitAsync(Pacer pacer, FaultSettings faults, ServerCallContext context, RequestRecord record)
    {
        if (faults.DisconnectAfter is { } limit && pacer.Units >= limit)
        {
            throw await DisconnectAsync(context, record).ConfigureAwait(false);
        }

        if (faults.ErrorAfter is { } errorAfter && pacer.Units >= errorAfter)
        {
            throw StreamError(faults);
        }

        await pacer.NextAsync(context.CancellationToken).ConfigureAwait(false);
    }

    /// <summary>The mid-stream failure of x-sim-error-after: the mapped status after the tokens sent so far.</summary>
    private static RpcException StreamError(FaultSettings faults)
    {
        var status = faults.StreamErrorStatus;
        return Failure(faults.GrpcStatus is { } code ? (StatusCode)code : MapHttpStatus(status), faults.Message ?? $"Simulated upstream error {status} mid-stream.", faults);
    }

    /// <summary>
    /// Writes one gRPC message whose payload is not a protobuf message. PROTOCOL-HTTP2:
    /// Length-Prefixed-Message = Compressed-Flag (0: uncompressed) Message-Length (4 bytes,
    /// big-endian) Message. The frame goes straight to the response body, after every message
    /// grpc-dotnet has written so far (each of its writes is awaited, flush included).
    /// </summary>
    internal static async Task WriteGarbageAsync(ServerCallContext context, CancellationToken token)
    {
        var body = context.GetHttpContext().Response.BodyWriter;
        var frame = body.GetSpan(5 + Garbage.Length);
        frame[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(frame[1..], (uint)Garbage.Length);
        Garbage.CopyTo(frame[5..]);
        body.Advance(5 + Garbage.Length);
        await body.FlushAsync(token).ConfigureAwait(false);
    }

    /// <summary>
    /// Resets the HTTP/2 stream (RST_STREAM INTERNAL_ERROR; the client sees the call fail without
    /// a status), <see cref="DisconnectGrace"/> after the last message.
    /// </summary>
    private async Task<OperationCanceledException> DisconnectAsync(ServerCallContext context, RequestRecord record)
    {
        record.MarkDisconnected();
        await Task.Delay(DisconnectGrace, timeProvider, context.CancellationToken).ConfigureAwait(false);
        context.GetHttpContext().Abort();
        return new OperationCanceledException("Simulated disconnect.");
    }

    private static RpcException Failure(StatusCode code, string message, FaultSettings faults)
    {
        var trailers = new Metadata();
        if (faults.RetryAfterMs is { } retry)
        {
            trailers.Add("retry-after-ms", retry.ToString(CultureInfo.InvariantCulture));
        }

        return new RpcException(new Status(code, message), trailers);
    }

    internal static StatusCode MapHttpStatus(int status) => status switch
    {
        400 or 422 => StatusCode.InvalidArgument,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.NotFound,
        408 or 504 => StatusCode.DeadlineExceeded,
        409 => StatusCode.Aborted,
        413 => StatusCode.ResourceExhausted,
        429 => StatusCode.ResourceExhausted,
        499 => StatusCode.Cancelled,
        501 => StatusCode.Unimplemented,
        502 or 503 or 529 => StatusCode.Unavailable,
        500 => StatusCode.Internal,
        _ => StatusCode.Unknown,
    };

    private RequestRecord Begin(IMessage request, ServerCallContext context, bool stream)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in context.RequestHeaders)
        {
            headers[entry.Key] = Redaction.IsSecret(entry.Key) ? Redaction.Redacted : entry.IsBinary ? Convert.ToBase64String(entry.ValueBytes) : entry.Value;
        }

        var record = state.Begin("grpc", "POST", context.Method, headers);
        record.Body = JsonFormatter.Default.Format(request);
        record.Stream = stream;
        if (request is CompletionRequest completion)
        {
            record.Model = completion.Model;
        }

        context.GetHttpContext().Response.Headers[SimulatorHeaders.RequestId] = record.Id.ToString(CultureInfo.InvariantCulture);
        return record;
    }

    private void End(RequestRecord record, ServerCallContext context, int? grpcStatus)
    {
        var http = context.GetHttpContext();
        var aborted = http.RequestAborted.IsCancellationRequested && !record.IsDisconnected();
        if (grpcStatus is null && context.Deadline != DateTime.MaxValue && timeProvider.GetUtcNow().UtcDateTime >= context.Deadline)
        {
            grpcStatus = (int)StatusCode.DeadlineExceeded;
        }

        state.End(record, record.IsDisconnected() ? null : 200, aborted || record.IsDisconnected() ? null : grpcStatus ?? (int)StatusCode.Cancelled, aborted);
    }

    private static string CallId(RequestRecord record, SimPlan plan)
        => "sim-" + ((ulong)record.Id).ToString("x8", CultureInfo.InvariantCulture) + plan.Seed.ToString("x16", CultureInfo.InvariantCulture);

    private static Usage Usage(SimPlan plan) => new()
    {
        InputTokens = plan.InputTokens,
        OutputTokens = plan.OutputTokens,
        CachedInputTokens = plan.CachedTokens,
    };

    private static FinishReason Finish(SimFinish finish) => finish switch
    {
        SimFinish.Length => FinishReason.Length,
        SimFinish.ToolCalls => FinishReason.ToolCalls,
        _ => FinishReason.Stop,
    };

    internal static SimRequest ToSimRequest(CompletionRequest request)
    {
        var sim = new SimRequest { Model = request.Model, Seed = request.HasSeed ? request.Seed : null, MaxTokens = request.HasMaxTokens ? request.MaxTokens : null };
        foreach (var message in request.Messages)
        {
            var text = message.Content;
            var extra = 0;
            foreach (var part in message.Parts)
            {
                if (part.PartCase == ContentPart.PartOneofCase.Text)
                {
                    text = text.Length == 0 ? part.Text : text + "\n" + part.Text;
                }
                else
                {
                    extra += 85;
                }
            }

            foreach (var call in message.ToolCalls)
            {
                extra += TokenCounter.Count(call.Name) + TokenCounter.Count(call.ArgumentsJson);
            }

            var role = message.Role switch
            {
                Role.System => SimRole.System,
                Role.Assistant => SimRole.Assistant,
                Role.Tool => SimRole.Tool,
                _ => SimRole.User,
            };
            sim.Messages.Add(new SimMessage(role, text) { ExtraTokens = extra, HasToolResult = role == SimRole.Tool });
        }

        foreach (var tool in request.Tools)
        {
            sim.Tools.Add(new SimTool(tool.Name, tool.Description, tool.Parameters is null ? null : ToJson(tool.Parameters)));
        }

        if (request.ToolChoice is { } choice)
        {
            if (choice.ChoiceCase == ToolChoice.ChoiceOneofCase.FunctionName)
            {
                sim.ToolChoice = ToolChoiceKind.Named;
                sim.ToolChoiceName = choice.FunctionName;
            }
            else if (choice.ChoiceCase == ToolChoice.ChoiceOneofCase.Mode)
            {
                sim.ToolChoice = choice.Mode switch
                {
                    ToolChoiceMode.None => ToolChoiceKind.None,
                    ToolChoiceMode.Required => ToolChoiceKind.Required,
                    _ => ToolChoiceKind.Auto,
                };
            }
        }

        if (request.ResponseFormat is { } format)
        {
            if (format.Type == ResponseFormatType.JsonObject)
            {
                sim.Format = OutputFormat.JsonObject;
            }
            else if (format.Type == ResponseFormatType.JsonSchema)
            {
                sim.Format = OutputFormat.JsonSchema;
                sim.FormatSchema = format.JsonSchema?.Schema is { } schema ? ToJson(schema) : null;
            }
        }

        sim.Stop.AddRange(request.Stop);
        return sim;
    }

    private static JsonElement ToJson(IMessage message)
    {
        using var document = JsonDocument.Parse(JsonFormatter.Default.Format(message));
        return document.RootElement.Clone();
    }

    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Debug, "gRPC request {RequestId}: injected HTTP status {Status}.", EventName = "GrpcFaultInjected")]
        public static partial void FaultInjected(ILogger logger, long requestId, int status);
    }
}

/// <summary>The stream's writes; with the malformed fault, the first event after <c>start</c> goes out as garbage.</summary>
internal sealed class ChunkWriter(IServerStreamWriter<CompletionChunk> stream, ServerCallContext context, bool malformed)
{
    private bool _malformed = malformed;

    public Task WriteAsync(CompletionChunk chunk)
    {
        if (_malformed && chunk.EventCase != CompletionChunk.EventOneofCase.Start)
        {
            _malformed = false;
            return GrpcSimulator.WriteGarbageAsync(context, context.CancellationToken);
        }

        return stream.WriteAsync(chunk, context.CancellationToken);
    }
}
