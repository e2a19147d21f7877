using System.Text.Json;
using Gateway.Grpc.Guardrails.Format;
using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Pipeline;
using Gateway.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Guardrails;

/// <summary>
/// Unary answers to a <c>response_format</c> json_schema request are checked against the
/// schema; an answer that does not match is asked for again (<c>guardrails:responseFormat:retries</c>
/// times, default 1), then the call fails with UNAVAILABLE, kind <c>response_format_invalid</c>,
/// naming the first problem (path and rule) instead of passing invalid JSON on. The tokens of the
/// rejected answers are added to the call's usage, so they are billed. Streamed answers are sent
/// as they come (no retry: the text already went out) and checked when they finish: an answer that
/// does not match ends with an <c>error</c> event of the same kind instead of <c>finish</c>.
/// </summary>
internal sealed partial class ResponseFormatGuard(GatewayOptions options, ILogger<ResponseFormatGuard> logger)
{
    public const string InvalidKind = "response_format_invalid";

    private readonly ResponseFormatGuardOptions _options = options.Guardrails.ResponseFormat;

    /// <summary>True when this request's answer is checked (a json_schema response format with a schema).</summary>
    public bool Applies(CompletionRequest request)
        => _options.Validate && request.ResponseFormat is { Type: ResponseFormatType.JsonSchema, JsonSchema.Schema: not null };

    public async Task<(CompletionResponse Response, RoutingInfo Routing)> CompleteAsync(CompletionRequest request, Func<Task<(CompletionResponse Response, RoutingInfo Routing)>> dispatch, string requestId)
    {
        using var schema = JsonDocument.Parse(JsonFormatter.Default.Format(request.ResponseFormat.JsonSchema.Schema));
        long rejectedInput = 0, rejectedOutput = 0;
        string? problem = null;
        var attempts = _options.Retries + 1;
        for (var attempt = 1; ; attempt++)
        {
            var (response, routing) = await dispatch().ConfigureAwait(false);
            if (response.FinishReason == FinishReason.ToolCalls || response.FinishReason == FinishReason.Length)
            {
                // Tool calls carry no answer to check; a length cut is reported as such by finish_reason.
                return (response, routing);
            }

            problem = JsonSchemaValidator.Validate(response.Message?.Content ?? "", schema.RootElement);
            if (problem is null)
            {
                if (rejectedInput + rejectedOutput > 0)
                {
                    var usage = response.Usage ??= new Usage();
                    usage.InputTokens += (int)rejectedInput;
                    usage.OutputTokens += (int)rejectedOutput;
                }

                return (response, routing);
            }

            Log.Rejected(logger, requestId, attempt, problem);
            rejectedInput += response.Usage?.InputTokens ?? 0;
            rejectedOutput += response.Usage?.OutputTokens ?? 0;
            if (attempt >= attempts)
            {
                break;
            }
        }

        var message = $"The model's answer did not match response_format.json_schema after {attempts} attempt(s): {problem}. Simplify the schema or retry.";
        throw new RpcException(new Status(StatusCode.Unavailable, message), new Metadata { { ErrorMapping.ErrorKindTrailer, InvalidKind } });
    }

    /// <summary>A writer that collects the streamed text and checks it against the schema when the stream finishes.</summary>
    public ICompletionEventWriter WrapStream(ICompletionEventWriter inner, CompletionRequest request, string requestId)
        => new ValidatingWriter(inner, JsonFormatter.Default.Format(request.ResponseFormat.JsonSchema.Schema), requestId, logger);

    private sealed class ValidatingWriter(ICompletionEventWriter inner, string schemaJson, string requestId, ILogger logger) : ICompletionEventWriter
    {
        private readonly System.Text.StringBuilder _text = new();
        private bool _toolCalls;

        public async Task WriteAsync(CompletionChunk chunk, CancellationToken cancellationToken)
        {
            switch (chunk.EventCase)
            {
                case CompletionChunk.EventOneofCase.Delta:
                    _text.Append(chunk.Delta.Text);
                    break;
                case CompletionChunk.EventOneofCase.ToolCallDelta:
                    _toolCalls = true;
                    break;
                case CompletionChunk.EventOneofCase.Finish when chunk.Finish.Reason == FinishReason.Stop && !_toolCalls:
                    using (var schema = JsonDocument.Parse(schemaJson))
                    {
                        if (JsonSchemaValidator.Validate(_text.ToString(), schema.RootElement) is { } problem)
                        {
                            Log.Rejected(logger, requestId, 1, problem);
                            var message = $"The streamed answer did not match response_format.json_schema: {problem}. Streamed answers are not retried; retry the call or use Complete, which retries.";
                            await inner.WriteAsync(new CompletionChunk
                            {
                                Error = new StreamError { Code = (int)StatusCode.Unavailable, Message = message, Kind = InvalidKind, Routing = chunk.Finish.Routing },
                            }, cancellationToken).ConfigureAwait(false);
                            throw new RpcException(new Status(StatusCode.Unavailable, message), new Metadata { { ErrorMapping.ErrorKindTrailer, InvalidKind } });
                        }
                    }

                    break;
            }

            await inner.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1310, LogLevel.Information, "Answer {Attempt} of request {RequestId} does not match its JSON schema: {Problem}.", EventName = "ResponseFormatRejected")]
        public static partial void Rejected(ILogger logger, string requestId, int attempt, string problem);
    }
}
