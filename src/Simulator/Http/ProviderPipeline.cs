using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Gateway.Grpc.Simulator.Faults;
using Gateway.Grpc.Simulator.Generation;
using Gateway.Grpc.Simulator.Internal;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Simulator.Http;

internal enum Operation
{
    Chat,
    Embed,
    Models,
}

/// <summary>
/// Runs one provider request: record it, authenticate, parse, resolve faults (headers, scripted
/// queue, global rate), apply latency / status / hang, generate, and let the dialect write the
/// answer. A client that goes away ends the request quietly and is recorded as aborted.
/// </summary>
internal sealed partial class ProviderPipeline(
    SimulatorState state,
    SimulatorOptions options,
    TimeProvider timeProvider,
    IHostApplicationLifetime lifetime,
    ILogger<ProviderPipeline> logger)
{
    private const int MaxBodyBytes = 32 * 1024 * 1024;

    public async Task HandleAsync(HttpContext context, ProviderDialect dialect, Operation operation, RouteInfo route)
    {
        var request = context.Request;
        var record = state.Begin(dialect.Api, request.Method, Redaction.PathAndQuery(request), Redaction.Headers(request.Headers));
        record.Model = route.Model;
        context.Response.Headers[SimulatorHeaders.RequestId] = record.Id.ToString(CultureInfo.InvariantCulture);
        using var exchange = new HttpExchange(context, record, timeProvider, lifetime.ApplicationStopping) { Dialect = dialect };
        try
        {
            dialect.AddResponseHeaders(exchange);
            var body = operation == Operation.Models ? [] : await ReadBodyAsync(request, exchange.Token).ConfigureAwait(false);
            if (body is null)
            {
                await SendErrorAsync(exchange, dialect, new ApiError(413, $"Request body is larger than {MaxBodyBytes} bytes.")).ConfigureAwait(false);
                return;
            }

            record.Body = Encoding.UTF8.GetString(body);
            if (dialect.Authorize(context, options.ApiKey) is { } authError)
            {
                await SendErrorAsync(exchange, dialect, authError).ConfigureAwait(false);
                return;
            }

            if (dialect.CheckRequest(context) is { } requestError)
            {
                await SendErrorAsync(exchange, dialect, requestError).ConfigureAwait(false);
                return;
            }

            if (operation == Operation.Models)
            {
                await dialect.WriteModelsAsync(exchange, options.Models, route.Model).ConfigureAwait(false);
                return;
            }

            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 128 });
            }
            catch (JsonException ex)
            {
                await SendErrorAsync(exchange, dialect, dialect.InvalidJson(ex.Message)).ConfigureAwait(false);
                return;
            }

            using (document)
            {
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    await SendErrorAsync(exchange, dialect, dialect.InvalidJson("The request body must be a JSON object.")).ConfigureAwait(false);
                    return;
                }

                if (operation == Operation.Chat)
                {
                    await RunChatAsync(exchange, dialect, document.RootElement, route).ConfigureAwait(false);
                }
                else
                {
                    await RunEmbedAsync(exchange, dialect, document.RootElement, route).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (IsClientGoneOrCut(ex, exchange))
        {
            Log.RequestEndedEarly(logger, record.Id, record.Disconnected ? "disconnect fault" : "client went away or server stopping");
        }
        finally
        {
            var status = context.Response.HasStarted || context.Response.StatusCode != StatusCodes.Status200OK ? context.Response.StatusCode : (int?)null;
            state.End(record, status, null, exchange.ClientGone);
        }
    }

    private async Task RunChatAsync(HttpExchange exchange, ProviderDialect dialect, JsonElement root, RouteInfo route)
    {
        var request = dialect.ParseChat(root, route, out var parseError);
        if (request is null)
        {
            await SendErrorAsync(exchange, dialect, parseError ?? new ApiError(400, "Invalid request.")).ConfigureAwait(false);
            return;
        }

        exchange.Record.Model = request.Model;
        exchange.Record.Stream = request.Stream;
        if (!await ApplyFaultsAsync(exchange, dialect, request.Model, request.Stream).ConfigureAwait(false))
        {
            return;
        }

        var plan = Generator.Plan(request, exchange.Faults.OutputTokens, exchange.Faults.CachedTokens, exchange.Faults.Echo);
        await dialect.WriteChatAsync(exchange, request, plan).ConfigureAwait(false);
        if (exchange.Faults is { ErrorAfter: null, DisconnectAfter: null, Malformed: false })
        {
            exchange.Record.Served(plan.InputTokens, plan.OutputTokens);
        }
    }

    private async Task RunEmbedAsync(HttpExchange exchange, ProviderDialect dialect, JsonElement root, RouteInfo route)
    {
        var request = dialect.ParseEmbed(root, route, out var parseError);
        if (request is null)
        {
            await SendErrorAsync(exchange, dialect, parseError ?? new ApiError(400, "Invalid request.")).ConfigureAwait(false);
            return;
        }

        exchange.Record.Model = request.Model;
        if (!await ApplyFaultsAsync(exchange, dialect, request.Model, stream: false).ConfigureAwait(false))
        {
            return;
        }

        await exchange.PaceUnaryAsync(0).ConfigureAwait(false);
        await dialect.WriteEmbedAsync(exchange, request).ConfigureAwait(false);
    }

    /// <summary>Resolves and applies latency, status and hang. False when the response is already done.</summary>
    private async Task<bool> ApplyFaultsAsync(HttpExchange exchange, ProviderDialect dialect, string model, bool stream)
    {
        var context = exchange.Context;
        var faults = FaultResolver.Resolve(name => context.Request.Headers[name].ToString(), dialect.Api, model, state, out var headerError);
        if (faults is null)
        {
            await SendErrorAsync(exchange, dialect, new ApiError(400, "Invalid simulator header. " + headerError)).ConfigureAwait(false);
            return false;
        }

        exchange.Faults = faults;
        faults.Describe(exchange.Record);
        if (faults.LatencyMs > 0)
        {
            await exchange.DelayAsync(faults.LatencyMs).ConfigureAwait(false);
        }

        if (faults.Status is { } status && !(stream && faults.ErrorAfter is not null))
        {
            Log.FaultInjected(logger, exchange.Record.Id, status);
            await SendErrorAsync(exchange, dialect, new ApiError(status, faults.Message ?? dialect.DefaultMessage(status, model))).ConfigureAwait(false);
            return false;
        }

        if (faults.Hang)
        {
            await exchange.HangAsync(stream ? dialect.StreamContentType : "application/json").ConfigureAwait(false);
            return false;
        }

        return true;
    }

    private static Task SendErrorAsync(HttpExchange exchange, ProviderDialect dialect, ApiError error)
    {
        var headers = exchange.Context.Response.Headers;
        if (exchange.Faults.RetryAfterMs is { } retryMs)
        {
            headers["retry-after-ms"] = retryMs.ToString(CultureInfo.InvariantCulture);
            headers.RetryAfter = ((retryMs + 999) / 1000).ToString(CultureInfo.InvariantCulture);
        }

        dialect.WriteErrorBody(exchange, error);
        return exchange.SendJsonAsync(error.Status);
    }

    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxBodyBytes)
        {
            return null;
        }

        var reader = request.BodyReader;
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (result.Buffer.Length > MaxBodyBytes)
            {
                reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                return null;
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                var bytes = result.Buffer.ToArray();
                reader.AdvanceTo(result.Buffer.End);
                return bytes;
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private static bool IsClientGoneOrCut(Exception ex, HttpExchange exchange)
        => ex is OperationCanceledException or IOException or ConnectionAbortedException or ConnectionResetException
            && (exchange.Token.IsCancellationRequested || exchange.ClientGone || exchange.Record.IsDisconnected());

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Request {RequestId} ended early: {Reason}.", EventName = "RequestEndedEarly")]
        public static partial void RequestEndedEarly(ILogger logger, long requestId, string reason);

        [LoggerMessage(2, LogLevel.Debug, "Request {RequestId}: injected status {Status}.", EventName = "FaultInjected")]
        public static partial void FaultInjected(ILogger logger, long requestId, int status);
    }
}
