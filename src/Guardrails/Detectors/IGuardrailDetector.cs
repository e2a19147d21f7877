namespace Gateway.Grpc.Guardrails.Detectors;

/// <summary>
/// A detector: finds the values or patterns of a few named rules in a text. Detectors are
/// stateless and thread-safe; they only report, the policy decides what happens.
/// </summary>
public interface IGuardrailDetector
{
    /// <summary>Every rule name this detector can report (e.g. <c>pii.email</c>).</summary>
    IReadOnlyList<string> Rules { get; }

    /// <summary>Adds the matches in <paramref name="text"/> to <paramref name="findings"/>.</summary>
    void Detect(string text, List<Finding> findings);
}
