using System.Text;
using Gateway.Grpc.Guardrails;
using Gateway.Grpc.Guardrails.Masking;
using Gateway.Grpc.Guardrails.Policy;
using Gateway.Grpc.Guardrails.Streaming;
using Gateway.Grpc.Server.Pipeline;
using Gateway.Grpc.Server.Telemetry;
using Gateway.V1;
using GuardrailTrigger = Gateway.Grpc.Guardrails.GuardrailTrigger;

namespace Gateway.Grpc.Server.Guardrails;

/// <summary>
/// One call's guardrail state after the input was checked: its policy, the masked values, and
/// the rules that fired. Checks the answer (<see cref="ApplyOutputAsync"/> for unary calls,
/// <see cref="Wrap"/> for streams) and reports what fired into the routing info, span, access
/// log and metrics.
/// </summary>
internal sealed class GuardrailCall
{
    private readonly GuardrailService _service;
    private readonly string _model;
    private readonly CompletionCall _call;
    private readonly CallTelemetry _observed;
    private int _reported;

    internal GuardrailCall(GuardrailService service, GuardrailPolicy policy, MaskVault vault, string model, CompletionCall call, CallTelemetry observed)
    {
        _service = service;
        Policy = policy;
        Vault = vault;
        _model = model;
        _call = call;
        _observed = observed;
    }

    public GuardrailPolicy Policy { get; }

    public MaskVault Vault { get; }

    public List<GuardrailTrigger> Triggers { get; } = [];

    /// <summary>Output guardrails on a unary answer: redact or block, then restore masked values.</summary>
    public async ValueTask ApplyOutputAsync(CompletionResponse response)
    {
        var message = response.Message;
        if (message is not null)
        {
            if (message.Content.Length > 0)
            {
                string? blocked = null;
                var text = Policy.OutputOff ? message.Content : _service.Scanner.Apply(message.Content, Policy, GuardrailDirection.Output, vault: null, Triggers, out blocked, injection: false);
                if (text is null)
                {
                    Report();
                    throw await _service.BlockAsync(blocked!, GuardrailDirection.Output, _call, _observed, _model).ConfigureAwait(false);
                }

                message.Content = Vault.Restore(text);
            }

            foreach (var toolCall in message.ToolCalls)
            {
                // The model may hand a masked value to a tool: the caller's tool gets the real one.
                toolCall.ArgumentsJson = Vault.Restore(toolCall.ArgumentsJson);
            }
        }

        Report();
        AddTo(response.Routing ??= new RoutingInfo());
    }

    /// <summary>A writer that checks streamed text through a hold-back window before passing it on.</summary>
    public ICompletionEventWriter Wrap(ICompletionEventWriter inner)
        => new GuardedEventWriter(this, inner, new OutputStreamGuard(_service.Scanner, Policy, Vault, Triggers, _service.StreamWindow), holdBack: !Policy.OutputOff || Vault.Count > 0);

    /// <summary>Counts and logs the triggers not reported yet; refreshes the span / access-log summary.</summary>
    public void Report()
    {
        if (Triggers.Count == _reported)
        {
            return;
        }

        for (var i = _reported; i < Triggers.Count; i++)
        {
            _service.Record(Triggers[i], _model, _call.RequestId);
        }

        _reported = Triggers.Count;
        _observed.SetGuardrailTriggered(TriggeredText());
    }

    public void AddTo(RoutingInfo routing)
    {
        foreach (var trigger in Triggers)
        {
            routing.Guardrails.Add(new Gateway.V1.GuardrailTrigger
            {
                Rule = trigger.Rule,
                Action = GuardrailTrigger.ActionName(trigger.Action),
                Direction = GuardrailTrigger.DirectionName(trigger.Direction),
            });
        }
    }

    public string TriggeredText()
    {
        var builder = new StringBuilder();
        foreach (var trigger in Triggers)
        {
            if (builder.Length > 0)
            {
                builder.Append(',');
            }

            builder.Append(trigger.ToString());
        }

        return builder.ToString();
    }

    internal ValueTask<global::Grpc.Core.RpcException> BlockOutputAsync(string rule)
    {
        Report();
        return _service.BlockAsync(rule, GuardrailDirection.Output, _call, _observed, _model);
    }

    /// <summary>
    /// Text deltas go through the hold-back guard; any other event first releases the held text
    /// (so order is kept), and finish/error events carry the triggers in their routing info.
    /// </summary>
    private sealed class GuardedEventWriter(GuardrailCall owner, ICompletionEventWriter inner, OutputStreamGuard guard, bool holdBack) : ICompletionEventWriter
    {
        public async Task WriteAsync(CompletionChunk chunk, CancellationToken cancellationToken)
        {
            if (!holdBack && chunk.EventCase != CompletionChunk.EventOneofCase.Finish && chunk.EventCase != CompletionChunk.EventOneofCase.Error)
            {
                // No output rule and nothing masked: text is not held (no time-to-first-token cost).
                await inner.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                return;
            }

            switch (chunk.EventCase)
            {
                case CompletionChunk.EventOneofCase.Delta:
                    var text = guard.Push(chunk.Delta.Text);
                    if (text is null)
                    {
                        await BlockAsync(cancellationToken).ConfigureAwait(false);
                    }
                    else if (text.Length > 0)
                    {
                        chunk.Delta.Text = text;
                        await inner.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                    }

                    return;
                case CompletionChunk.EventOneofCase.Start:
                case CompletionChunk.EventOneofCase.Continuation:
                    // A continuation only says who streams next: the held text stays held.
                    await inner.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                    return;
            }

            var rest = guard.Flush();
            if (rest is null)
            {
                await BlockAsync(cancellationToken).ConfigureAwait(false);
                return;
            }

            if (rest.Length > 0)
            {
                await inner.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = rest } }, cancellationToken).ConfigureAwait(false);
            }

            owner.Report();
            if (chunk.EventCase == CompletionChunk.EventOneofCase.Finish)
            {
                owner.AddTo(chunk.Finish.Routing ??= new RoutingInfo());
            }
            else if (chunk.EventCase == CompletionChunk.EventOneofCase.Error)
            {
                owner.AddTo(chunk.Error.Routing ??= new RoutingInfo());
            }

            await inner.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
        }

        private async Task BlockAsync(CancellationToken cancellationToken)
        {
            var error = await owner.BlockOutputAsync(guard.BlockedRule!).ConfigureAwait(false);
            var routing = new RoutingInfo();
            owner.AddTo(routing);
            await inner.WriteAsync(new CompletionChunk
            {
                Error = new StreamError { Code = (int)error.StatusCode, Message = error.Status.Detail, Kind = GuardrailService.BlockedKind, Routing = routing },
            }, cancellationToken).ConfigureAwait(false);
            throw error;
        }
    }
}
