using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using Gateway.Grpc.Governance.Keys;
using Gateway.Grpc.Guardrails;
using Gateway.Grpc.Guardrails.Masking;
using Gateway.Grpc.Guardrails.Policy;
using Gateway.Grpc.Observability.Audit;
using Gateway.Grpc.Observability.Metrics;
using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Pipeline;
using Gateway.Grpc.Server.Telemetry;
using Gateway.V1;
using GuardrailTrigger = Gateway.Grpc.Guardrails.GuardrailTrigger;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Guardrails;

/// <summary>
/// The pipeline's guardrail step. <see cref="InspectAsync"/> runs once per call before dispatch:
/// it works out the call's policy (caller level and overrides from key/team metadata, the model
/// group's own, the stronger action per rule), scans the request's text, blocks, redacts or masks
/// it in place, and returns the <see cref="GuardrailCall"/> that then checks the answer. With no
/// rule on for the call it returns null and costs one cached dictionary lookup.
/// </summary>
internal sealed partial class GuardrailService
{
    /// <summary>The <c>gateway-error-kind</c> of a blocked call.</summary>
    public const string BlockedKind = "guardrail_blocked";

    /// <summary>Trailer (and REST header) naming the rule that blocked a call.</summary>
    public const string RuleTrailer = "gateway-guardrail-rule";

    /// <summary>Response header listing the input rules that fired (<c>rule:action:direction</c>, comma-separated).</summary>
    public const string TriggeredHeader = "gateway-guardrail-triggered";

    /// <summary>Key or team metadata entry naming the caller's level.</summary>
    public const string LevelMetadata = "guardrail_level";

    /// <summary>Key or team metadata entry with per-rule overrides (<c>pii.email=mask, output:secret=block</c>).</summary>
    public const string OverridesMetadata = "guardrail_overrides";

    private readonly GuardrailsOptions _options;
    private readonly GuardrailPolicy[] _levels;
    private readonly GuardrailLevel _defaultLevel;
    private readonly Dictionary<string, GuardrailPolicy> _models = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(GuardrailLevel Level, string Overrides, string Model), GuardrailPolicy> _policies = new();
    private readonly GatewayMetrics _metrics;
    private readonly IAuditTrail _audit;
    private readonly ILogger<GuardrailService> _logger;

    public GuardrailService(GatewayOptions options, GatewayMetrics metrics, IAuditTrail audit, ILogger<GuardrailService> logger, Gateway.Grpc.Caching.Semantic.MiniLmEmbedder? embedder = null)
    {
        _options = options.Guardrails;
        _metrics = metrics;
        _audit = audit;
        _logger = logger;
        Scanner = GuardrailConfiguration.CreateScanner(_options, embedder is null ? null : embedder.Embed);
        if (Scanner.Topics is { UsesEmbeddings: true } topics)
        {
            // The model and the topics' examples load off the request path.
            _ = Task.Run(topics.Warm);
        }
        _levels = [GuardrailPolicy.Off, GuardrailConfiguration.LevelPolicy(_options, GuardrailLevel.Standard), GuardrailConfiguration.LevelPolicy(_options, GuardrailLevel.Strict)];
        GuardrailOverrides.TryParseLevel(_options.DefaultLevel, out _defaultLevel);
        foreach (var model in options.Models)
        {
            if (GuardrailConfiguration.ModelPolicy(_options, model.Guardrails) is { } policy)
            {
                _models[model.Name] = policy;
            }
        }
    }

    public GuardrailScanner Scanner { get; }

    public int StreamWindow => _options.StreamWindowChars;

    public ResponseFormatGuardOptions ResponseFormat => _options.ResponseFormat;

    /// <summary>The policy for this caller on this model (cached per distinct level, overrides and model).</summary>
    public GuardrailPolicy PolicyFor(Principal principal, string model)
    {
        var level = _defaultLevel;
        var overrides = "";
        var teamMeta = principal.Team?.Metadata;
        var keyMeta = principal.Key?.Metadata;
        if (keyMeta is not null && keyMeta.TryGetValue(LevelMetadata, out var keyLevel) && GuardrailOverrides.TryParseLevel(keyLevel, out var parsedKey))
        {
            level = parsedKey;
        }
        else if (teamMeta is not null && teamMeta.TryGetValue(LevelMetadata, out var teamLevel) && GuardrailOverrides.TryParseLevel(teamLevel, out var parsedTeam))
        {
            level = parsedTeam;
        }

        if (teamMeta is not null && teamMeta.TryGetValue(OverridesMetadata, out var teamOverrides))
        {
            overrides = teamOverrides;
        }

        if (keyMeta is not null && keyMeta.TryGetValue(OverridesMetadata, out var keyOverrides))
        {
            // The key's entries come last, so they win over the team's for the same rule.
            overrides = overrides.Length == 0 ? keyOverrides : overrides + "," + keyOverrides;
        }

        if (level == GuardrailLevel.Off && overrides.Length == 0 && !_models.ContainsKey(model))
        {
            return GuardrailPolicy.Off;
        }

        return _policies.GetOrAdd((level, overrides, _models.ContainsKey(model) ? model : ""), Build, this);

        static GuardrailPolicy Build((GuardrailLevel Level, string Overrides, string Model) key, GuardrailService self)
        {
            var policy = self._levels[(int)key.Level];
            if (key.Overrides.Length > 0)
            {
                // Bad metadata must not break calls: the valid entries apply, the rest is logged once per distinct value.
                if (!GuardrailOverrides.TryParse(key.Overrides, out var parsed, out var error))
                {
                    Log.BadOverrides(self._logger, error ?? "");
                }

                policy = policy.With(parsed);
            }

            return key.Model.Length > 0 ? GuardrailPolicy.Strongest(policy, self._models[key.Model]) : policy;
        }
    }

    /// <summary>
    /// Input guardrails: null when no rule is on for this call; otherwise the request has been
    /// rewritten (redactions, mask placeholders) and the returned call checks the answer.
    /// Throws INVALID_ARGUMENT (<c>guardrail_blocked</c>) when a rule blocks.
    /// </summary>
    public async ValueTask<GuardrailCall?> InspectAsync(CompletionRequest request, Principal principal, CompletionCall call, CallTelemetry observed)
    {
        var policy = PolicyFor(principal, request.Model);
        if (policy.IsOff)
        {
            return null;
        }

        var guard = new GuardrailCall(this, policy, new MaskVault(), request.Model, call, observed);
        var triggers = guard.Triggers;
        string? blocked = null;
        StringBuilder? userText = null;
        foreach (var message in request.Messages)
        {
            var injection = message.Role != Role.System;
            if (message.Content.Length > 0)
            {
                var text = Scanner.Apply(message.Content, policy, GuardrailDirection.Input, guard.Vault, triggers, out blocked, injection);
                if (text is null)
                {
                    break;
                }

                message.Content = text;
            }

            foreach (var part in message.Parts)
            {
                if (part.PartCase == ContentPart.PartOneofCase.Text && part.Text.Length > 0)
                {
                    var text = Scanner.Apply(part.Text, policy, GuardrailDirection.Input, guard.Vault, triggers, out blocked, injection);
                    if (text is null)
                    {
                        break;
                    }

                    part.Text = text;
                }
            }

            if (blocked is not null)
            {
                break;
            }

            if (message.Role == Role.User && Scanner.Topics is { HasAllowList: true })
            {
                (userText ??= new StringBuilder()).Append(message.Content).Append('\n');
                foreach (var part in message.Parts)
                {
                    userText.Append(part.Text).Append('\n');
                }
            }
        }

        if (blocked is null && Scanner.Topics is { HasAllowList: true } topics && userText is not null
            && policy.Resolve(Gateway.Grpc.Guardrails.Detectors.TopicDetector.OffTopic, GuardrailDirection.Input) is var offTopic and not GuardrailAction.Off
            && !topics.MatchesAllowed(userText.ToString()))
        {
            if (offTopic == GuardrailAction.Block)
            {
                blocked = Gateway.Grpc.Guardrails.Detectors.TopicDetector.OffTopic;
                triggers.Add(new GuardrailTrigger(blocked, GuardrailAction.Block, GuardrailDirection.Input));
            }
            else
            {
                triggers.Add(new GuardrailTrigger(Gateway.Grpc.Guardrails.Detectors.TopicDetector.OffTopic, GuardrailAction.Flag, GuardrailDirection.Input));
            }
        }

        guard.Report();
        if (blocked is not null)
        {
            throw await BlockAsync(blocked, GuardrailDirection.Input, call, observed, request.Model).ConfigureAwait(false);
        }

        if (triggers.Count > 0)
        {
            // Response headers are not sent yet: the caller sees what fired on its prompt.
            call.Http.Response.Headers[TriggeredHeader] = guard.TriggeredText();
        }

        return guard;
    }

    /// <summary>The error for a blocked call; logs, counts and audits it (the rule, never the text).</summary>
    internal async ValueTask<RpcException> BlockAsync(string rule, GuardrailDirection direction, CompletionCall call, CallTelemetry observed, string model)
    {
        var side = GuardrailTrigger.DirectionName(direction);
        Log.Blocked(_logger, rule, side, call.RequestId, observed.KeyId ?? "-");
        if (_audit.Enabled)
        {
            var details = new JsonObject
            {
                ["request_id"] = call.RequestId,
                ["rule"] = rule,
                ["direction"] = side,
                ["model"] = model,
                ["team"] = observed.Team,
                ["route"] = call.Route,
            };
            try
            {
                await _audit.AppendAsync("guardrail.block", observed.KeyId ?? "anonymous", details, call.CancellationToken).ConfigureAwait(false);
            }
            catch (AuditTrailException ex)
            {
                Log.AuditFailed(_logger, ex);
            }
        }

        var what = direction == GuardrailDirection.Input
            ? $"The request was blocked by guardrail rule '{rule}'. Remove that content from the prompt, or ask the gateway admin about the '{rule}' policy."
            : $"The answer was blocked by guardrail rule '{rule}' before it reached you.";
        if (call.Route == CompletionCall.RestRoute && !call.Http.Response.HasStarted)
        {
            call.Http.Response.Headers[ErrorMapping.ErrorKindTrailer] = BlockedKind;
            call.Http.Response.Headers[RuleTrailer] = rule;
        }

        return new RpcException(new Status(StatusCode.InvalidArgument, what), new Metadata { { ErrorMapping.ErrorKindTrailer, BlockedKind }, { RuleTrailer, rule } });
    }

    internal void Record(GuardrailTrigger trigger, string model, string requestId)
    {
        var action = GuardrailTrigger.ActionName(trigger.Action);
        var direction = GuardrailTrigger.DirectionName(trigger.Direction);
        _metrics.RecordGuardrail(trigger.Rule, action, direction, model);
        if (trigger.Action != GuardrailAction.Block)
        {
            Log.Triggered(_logger, trigger.Rule, action, direction, requestId);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1300, LogLevel.Warning, "Guardrail rule {Rule} blocked the {Direction} of request {RequestId} (key {KeyId}).", EventName = "GuardrailBlocked")]
        public static partial void Blocked(ILogger logger, string rule, string direction, string requestId, string keyId);

        [LoggerMessage(1301, LogLevel.Information, "Guardrail rule {Rule} fired ({Action}) on the {Direction} of request {RequestId}.", EventName = "GuardrailTriggered")]
        public static partial void Triggered(ILogger logger, string rule, string action, string direction, string requestId);

        [LoggerMessage(1302, LogLevel.Warning, "Ignoring part of a guardrail_overrides metadata value: {Problem}.", EventName = "GuardrailBadOverrides")]
        public static partial void BadOverrides(ILogger logger, string problem);

        [LoggerMessage(1303, LogLevel.Error, "Could not write a guardrail block to the audit trail.", EventName = "GuardrailAuditFailed")]
        public static partial void AuditFailed(ILogger logger, Exception exception);
    }
}
