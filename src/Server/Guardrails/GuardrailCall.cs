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
                // Tool arguments are output too: the output rules apply (a secret the model passes to a
                // tool is redacted or blocks), then a masked value it hands on becomes the real one.
                string? blocked = null;
                var arguments = Policy.OutputOff || toolCall.ArgumentsJson.Length == 0
                    ? toolCall.ArgumentsJson
                    : _service.Scanner.Apply(toolCall.ArgumentsJson, Policy, GuardrailDirection.Output, vault: null, Triggers, out blocked, injection: false);
                if (arguments is null)
                {
                    Report();
                    throw await _service.BlockAsync(blocked!, GuardrailDirection.Output, _call, _observed, _model).ConfigureAwait(false);
                }

                toolCall.ArgumentsJson = Vault.Restore(arguments);
            }
        }

        Report();
        AddTo(response.Routing ??= new RoutingInfo());
    }

    /// <summary>A writer that checks streamed text and tool-call arguments through a hold-back window before passing them on.</summary>
    public ICompletionEventWriter Wrap(ICompletionEventWriter inner)
        => new GuardedEventWriter(this, inner, NewStreamGuard(), holdBack: !Policy.OutputOff || Vault.Count > 0);

    private OutputStreamGuard NewStreamGuard() => new(_service.Scanner, Policy, Vault, Triggers, _service.StreamWindow);

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
    /// Text deltas go through the hold-back guard, and each tool call's argument deltas through a
    /// guard of their own (so a value or a mask placeholder split across argument deltas is seen
    /// whole, as in text). Any other event first releases what is held (text and arguments, so the
    /// order is kept), and finish/error events carry the triggers in their routing info.
    /// </summary>
    private sealed class GuardedEventWriter(GuardrailCall owner, ICompletionEventWriter inner, OutputStreamGuard guard, bool holdBack) : ICompletionEventWriter
    {
        private SortedDictionary<int, OutputStreamGuard>? _toolGuards;

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
                case CompletionChunk.EventOneofCase.ToolCallDelta:
                    await ReleaseTextAsync(cancellationToken).ConfigureAwait(false);
                    var toolDelta = chunk.ToolCallDelta;
                    _toolGuards ??= [];
                    if (!_toolGuards.TryGetValue(toolDelta.Index, out var toolGuard))
                    {
                        _toolGuards[toolDelta.Index] = toolGuard = owner.NewStreamGuard();
                    }

                    var arguments = toolGuard.Push(toolDelta.ArgumentsDelta);
                    if (arguments is null)
                    {
                        await BlockAsync(toolGuard.BlockedRule!, cancellationToken).ConfigureAwait(false);
                    }
                    else if (arguments.Length > 0 || toolDelta.Id.Length > 0 || toolDelta.Name.Length > 0)
                    {
                        toolDelta.ArgumentsDelta = arguments;
                        await inner.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                    }

                    return;
                case CompletionChunk.EventOneofCase.Delta:
                    await ReleaseToolArgumentsAsync(cancellationToken).ConfigureAwait(false);
                    var text = guard.Push(chunk.Delta.Text);
                    if (text is null)
                    {
                        await BlockAsync(guard.BlockedRule!, cancellationToken).ConfigureAwait(false);
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

            await ReleaseToolArgumentsAsync(cancellationToken).ConfigureAwait(false);
            await ReleaseTextAsync(cancellationToken).ConfigureAwait(false);
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

        /// <summary>Sends the text held back so far (checked), before an event of another kind.</summary>
        private async Task ReleaseTextAsync(CancellationToken cancellationToken)
        {
            var rest = guard.Flush();
            if (rest is null)
            {
                await BlockAsync(guard.BlockedRule!, cancellationToken).ConfigureAwait(false);
            }
            else if (rest.Length > 0)
            {
                await inner.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = rest } }, cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>Sends every tool call's held-back arguments (checked), in tool-call order.</summary>
        private async Task ReleaseToolArgumentsAsync(CancellationToken cancellationToken)
        {
            if (_toolGuards is null)
            {
                return;
            }

            foreach (var (index, toolGuard) in _toolGuards)
            {
                var rest = toolGuard.Flush();
                if (rest is null)
                {
                    await BlockAsync(toolGuard.BlockedRule!, cancellationToken).ConfigureAwait(false);
                }
                else if (rest.Length > 0)
                {
                    await inner.WriteAsync(new CompletionChunk { ToolCallDelta = new ToolCallDelta { Index = index, ArgumentsDelta = rest } }, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        private async Task BlockAsync(string rule, CancellationToken cancellationToken)
        {
            var error = await owner.BlockOutputAsync(rule).ConfigureAwait(false);
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
