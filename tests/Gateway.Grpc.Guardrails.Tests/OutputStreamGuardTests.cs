using Gateway.Grpc.Guardrails.Masking;
using Gateway.Grpc.Guardrails.Policy;
using Gateway.Grpc.Guardrails.Streaming;

namespace Gateway.Grpc.Guardrails.Tests;

public sealed class OutputStreamGuardTests
{
    private static readonly GuardrailScanner Scanner = GuardrailScanner.CreateDefault();

    private static readonly GuardrailPolicy RedactSecretsAndCards = new(
        new Dictionary<string, GuardrailAction>(),
        new Dictionary<string, GuardrailAction> { ["secret"] = GuardrailAction.Redact, ["pii.credit_card"] = GuardrailAction.Redact, ["pii.email"] = GuardrailAction.Redact });

    [Fact]
    public void Prose_HoldsOnlyTheWordBeingWritten_OneDeltaBehind()
    {
        var guard = new OutputStreamGuard(Scanner, RedactSecretsAndCards, null, new List<GuardrailTrigger>());

        Assert.Equal("", guard.Push("Hello"));
        Assert.Equal("Hello ", guard.Push(" world"));
        Assert.Equal("world, ", guard.Push(", how"));
        Assert.Equal("how are you?", guard.Push(" are you?"));
        Assert.Equal("", guard.Flush());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(7)]
    public void SecretSplitAcrossDeltas_NeverLeaves_AndIsRedacted(int pieceSize)
    {
        var text = "use AKIAQWERTYUIOPASDF23 or card 4111 1111 1111 1111 or mail bob@example.com, then stop.";
        var triggers = new List<GuardrailTrigger>();
        var guard = new OutputStreamGuard(Scanner, RedactSecretsAndCards, null, triggers);

        var sent = Stream(guard, text, pieceSize);

        Assert.Equal("use [REDACTED:AWS_ACCESS_KEY] or card [REDACTED:CREDIT_CARD] or mail [REDACTED:EMAIL], then stop.", string.Concat(sent));
        foreach (var piece in sent)
        {
            // No prefix of a value ever went out before the guard knew it was one.
            Assert.DoesNotContain("AKIA", piece, StringComparison.Ordinal);
            Assert.DoesNotContain("4111", piece, StringComparison.Ordinal);
            Assert.DoesNotContain("bob@", piece, StringComparison.Ordinal);
        }

        Assert.Contains(new GuardrailTrigger("secret.aws_access_key", GuardrailAction.Redact, GuardrailDirection.Output), triggers);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void MaskPlaceholdersSplitAcrossDeltas_AreRestored(int pieceSize)
    {
        var vault = new MaskVault();
        var email = vault.Mask("pii.email", "alice@example.com");
        var phone = vault.Mask("pii.phone", "+1 415 555 2671");
        var guard = new OutputStreamGuard(Scanner, GuardrailPolicy.Off, vault, new List<GuardrailTrigger>());

        var sent = Stream(guard, $"Reply to {email} or {phone}.", pieceSize);

        Assert.Equal("Reply to alice@example.com or +1 415 555 2671.", string.Concat(sent));
        Assert.DoesNotContain(sent, p => p.Contains('[', StringComparison.Ordinal));
    }

    [Fact]
    public void BlockingRule_StopsTheStream_WithoutReleasingTheValue()
    {
        var policy = new GuardrailPolicy(new Dictionary<string, GuardrailAction>(), new Dictionary<string, GuardrailAction> { ["secret"] = GuardrailAction.Block });
        var guard = new OutputStreamGuard(Scanner, policy, null, new List<GuardrailTrigger>());

        Assert.Equal("", guard.Push("key"));
        Assert.Equal("key ", guard.Push(" AKIAQWERT"));
        Assert.Null(guard.Push("YUIOPASDF23 done"));

        Assert.Equal("secret.aws_access_key", guard.BlockedRule);
        Assert.Null(guard.Flush());
    }

    [Fact]
    public void RunLongerThanTheWindow_IsReleasedInPieces_NeverHeldBeyondTheWindow()
    {
        var guard = new OutputStreamGuard(Scanner, RedactSecretsAndCards, null, new List<GuardrailTrigger>(), window: 32);
        var released = "";
        for (var i = 0; i < 100; i++)
        {
            released += guard.Push("abcdefgh");
            Assert.True(guard.Held <= 32, $"held {guard.Held}");
        }

        released += guard.Flush();
        Assert.Equal(800, released.Length);
    }

    private static List<string> Stream(OutputStreamGuard guard, string text, int pieceSize)
    {
        var sent = new List<string>();
        for (var i = 0; i < text.Length; i += pieceSize)
        {
            var piece = guard.Push(text.Substring(i, Math.Min(pieceSize, text.Length - i)));
            Assert.NotNull(piece);
            sent.Add(piece);
        }

        sent.Add(guard.Flush()!);
        return sent;
    }
}
