namespace Gateway.Grpc.Guardrails;

/// <summary>
/// What a policy does when a rule matches. Ordered by strength: when two policies (the caller's
/// and the model group's) disagree about a rule, the stronger action wins.
/// </summary>
public enum GuardrailAction
{
    /// <summary>The rule is not checked.</summary>
    Off = 0,

    /// <summary>Log and count only; the text goes through unchanged.</summary>
    Flag = 1,

    /// <summary>Replace the value by a placeholder; the real value is restored in the answer the caller sees.</summary>
    Mask = 2,

    /// <summary>Replace the value by <c>[REDACTED:LABEL]</c>, for good.</summary>
    Redact = 3,

    /// <summary>Refuse the request (or stop the answer): INVALID_ARGUMENT / HTTP 400, kind <c>guardrail_blocked</c>.</summary>
    Block = 4,
}

/// <summary>Which side of the call a text is on.</summary>
public enum GuardrailDirection
{
    Input,
    Output,
}

/// <summary>One match of one rule: where it is in the scanned text (<see cref="Length"/> 0 = no span, e.g. an off-topic verdict).</summary>
public readonly record struct Finding(string Rule, int Start, int Length)
{
    public int End => Start + Length;
}

/// <summary>A rule that fired on a call and what was done about it (never the matched text).</summary>
public readonly record struct GuardrailTrigger(string Rule, GuardrailAction Action, GuardrailDirection Direction)
{
    public static string ActionName(GuardrailAction action) => action switch
    {
        GuardrailAction.Flag => "flag",
        GuardrailAction.Mask => "mask",
        GuardrailAction.Redact => "redact",
        GuardrailAction.Block => "block",
        _ => "off",
    };

    public static string DirectionName(GuardrailDirection direction) => direction == GuardrailDirection.Input ? "input" : "output";

    /// <summary><c>rule:action:direction</c>, the form the access log and span carry.</summary>
    public override string ToString() => Rule + ":" + ActionName(Action) + ":" + DirectionName(Direction);
}
