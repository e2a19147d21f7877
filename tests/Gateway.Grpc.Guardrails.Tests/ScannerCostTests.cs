using System.Diagnostics;
using System.Text;
using Gateway.Grpc.Guardrails.Masking;
using Gateway.Grpc.Guardrails.Policy;
using Xunit.Abstractions;

namespace Gateway.Grpc.Guardrails.Tests;

/// <summary>
/// What the default detectors cost on a 2 KB prompt (the budget: p50 &lt;= 50 us). A
/// functional-test machine is shared and noisy, so the assertion is a loose ceiling (10x the
/// budget) that still catches a catastrophic regex; the measured p50 is printed and the figure
/// in README comes from this test.
/// </summary>
public sealed class ScannerCostTests(ITestOutputHelper output)
{
    [Fact]
    public void AllDefaultDetectors_On2KbPrompt_P50WellUnderCeiling()
    {
        var scanner = GuardrailScanner.CreateDefault();
        var policy = GuardrailPolicy.ForLevel(GuardrailLevel.Strict);
        var prompt = Prompt2Kb();
        Assert.InRange(prompt.Length, 2000, 2200);

        for (var i = 0; i < 300; i++)
        {
            scanner.Apply(prompt, policy, GuardrailDirection.Input, new MaskVault(), new List<GuardrailTrigger>(), out _);
        }

        var samples = new double[2000];
        for (var i = 0; i < samples.Length; i++)
        {
            var start = Stopwatch.GetTimestamp();
            scanner.Apply(prompt, policy, GuardrailDirection.Input, new MaskVault(), new List<GuardrailTrigger>(), out _);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }

        Array.Sort(samples);
        var p50 = samples[samples.Length / 2];
        var p99 = samples[samples.Length * 99 / 100];
        output.WriteLine($"2 KB prompt, all default detectors (strict): p50 {p50:F1} us, p99 {p99:F1} us");
        Assert.True(p50 < 500, $"p50 {p50:F1} us");
    }

    internal static string Prompt2Kb()
    {
        var sb = new StringBuilder();
        var paragraph = "Our team is planning the Q3 release of the billing service. The migration moves 1,250 accounts to the new ledger, "
            + "and we need a summary of risks, owners and dates for the steering meeting on 2024-07-15 at 10:30. Version 3.2.1 fixed the "
            + "rounding bug; order 4532 0151 1283 0367 is the test order. Please keep the answer short and use bullet points. ";
        while (sb.Length < 2000)
        {
            sb.Append(paragraph);
        }

        return sb.ToString(0, 2048);
    }
}
