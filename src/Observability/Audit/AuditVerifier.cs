using System.Text;

namespace Gateway.Grpc.Observability.Audit;

/// <summary>What verifying a trail found: OK with the head, or the first broken entry.</summary>
public sealed record AuditVerification(bool Ok, long Entries, string HeadHash, long? BrokenLine, string? Reason)
{
    public override string ToString() => Ok
        ? $"OK: {Entries} entries, head {HeadHash}"
        : $"BROKEN at line {BrokenLine}: {Reason} ({Entries} entries before it verified)";
}

/// <summary>
/// Verifies a JSON-lines trail from the first line: sequence without gaps, each <c>prev</c>
/// equal to the hash before it, each hash equal to its content. A chain proves order and
/// integrity up to its head; anchoring the reported head hash elsewhere (a ticket, the ledger)
/// also catches truncation of the newest entries.
/// </summary>
public static class AuditVerifier
{
    /// <summary>Verifies the file; keyed entries need <paramref name="key"/> (the trail's HMAC key).</summary>
    public static async Task<AuditVerification> VerifyFileAsync(string path, CancellationToken cancellationToken = default, byte[]? key = null)
    {
        // Share everything: the gateway may be appending while an operator verifies.
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 4096, FileOptions.SequentialScan | FileOptions.Asynchronous);
        using var reader = new StreamReader(file, Encoding.UTF8, detectEncodingFromByteOrderMarks: false);
        var previous = AuditChain.GenesisHash;
        long line = 0;
        long verified = 0;
        var keyedSeen = false;
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } text)
        {
            line++;
            if (text.Length == 0)
            {
                return new AuditVerification(false, verified, previous, line, "empty line");
            }

            if (!AuditLine.TryParse(text, out var record, out var error))
            {
                return new AuditVerification(false, verified, previous, line, error);
            }

            if (AuditChain.Check(record!, verified + 1, previous, key, keyedSeen) is { } problem)
            {
                return new AuditVerification(false, verified, previous, line, $"seq {record!.Sequence}: {problem}");
            }

            previous = record!.Hash;
            keyedSeen |= AuditChain.IsKeyed(previous);
            verified++;
        }

        return new AuditVerification(true, verified, previous, null, null);
    }
}

/// <summary>
/// <c>audit verify &lt;file&gt; [--key env:NAME|file:/path]</c>: exit 0 when the chain holds, 1 when
/// broken, 2 on usage or I/O errors. The key (the gateway's <c>audit.hmacKey</c>) is needed for
/// keyed entries; it is read through <paramref name="resolveKey"/> and never printed.
/// </summary>
public static class AuditCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, Func<string, string>? resolveKey = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        const string usage = "usage: audit verify <file> [--key env:NAME|file:/path]   (checks the hash chain of an audit trail)";
        var withKey = args.Count == 4 && args[2] == "--key";
        if ((args.Count != 2 && !withKey) || args[0] != "verify" || (withKey && resolveKey is null))
        {
            await error.WriteLineAsync(usage).ConfigureAwait(false);
            return 2;
        }

        byte[]? key = null;
        if (withKey)
        {
            try
            {
                key = Encoding.UTF8.GetBytes(resolveKey!(args[3]));
            }
            catch (InvalidOperationException ex)
            {
                await error.WriteLineAsync($"audit verify: the key {args[3]} could not be read: {ex.Message}").ConfigureAwait(false);
                return 2;
            }
        }

        var path = args[1];
        if (!File.Exists(path))
        {
            await error.WriteLineAsync($"audit verify: '{path}' does not exist.").ConfigureAwait(false);
            return 2;
        }

        try
        {
            var result = await AuditVerifier.VerifyFileAsync(path, CancellationToken.None, key).ConfigureAwait(false);
            await (result.Ok ? output : error).WriteLineAsync(result.ToString()).ConfigureAwait(false);
            return result.Ok ? 0 : 1;
        }
        catch (IOException ex)
        {
            await error.WriteLineAsync($"audit verify: cannot read '{path}': {ex.Message}").ConfigureAwait(false);
            return 2;
        }
    }
}
