using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Gateway.Grpc.Observability.Audit;

/// <summary>
/// The audit trail as a JSON-lines file, one entry per line, appended and fsync'd. An
/// exclusive lock on <c>&lt;path&gt;.lock</c> keeps a second writer (another gateway) out while
/// leaving the trail itself readable, so <c>audit verify</c> works on a running gateway's file.
/// </summary>
internal sealed class JsonLinesAuditStore : IAuditStore, IDisposable
{
    private readonly FileStream _lock;
    private readonly FileStream _file;
    private readonly string _path;

    public JsonLinesAuditStore(string path)
    {
        _path = path;
        try
        {
            _lock = new FileStream(path + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new AuditTrailException($"audit:path: '{path}' is locked by another writer ({path}.lock: {ex.Message}); only one gateway may append to a trail.", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new AuditTrailException($"audit:path: no permission to create '{path}.lock'.", ex);
        }

        try
        {
            _file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0, FileOptions.None);
        }
        catch (IOException ex)
        {
            _lock.Dispose();
            throw new AuditTrailException($"audit:path: cannot open '{path}' for appending ({ex.Message}).", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            _lock.Dispose();
            throw new AuditTrailException($"audit:path: no permission to write '{path}'.", ex);
        }
    }

    public async ValueTask<AuditRecord?> ReadLastAsync(CancellationToken cancellationToken)
    {
        var length = _file.Length;
        if (length == 0)
        {
            return null;
        }

        var last = new byte[1];
        _file.Position = length - 1;
        await _file.ReadExactlyAsync(last, cancellationToken).ConfigureAwait(false);
        if (last[0] != (byte)'\n')
        {
            throw new AuditTrailException($"audit:path: '{_path}' ends with an incomplete entry (a crash during an append?). Run 'audit verify {_path}' and remove the partial last line.");
        }

        // Read backwards in growing chunks until the line before the last line feed begins.
        var chunk = 4096;
        while (true)
        {
            var start = Math.Max(0, length - 1 - chunk);
            var buffer = new byte[length - 1 - start];
            _file.Position = start;
            await _file.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
            var newline = Array.LastIndexOf(buffer, (byte)'\n');
            if (newline >= 0 || start == 0)
            {
                var line = Encoding.UTF8.GetString(buffer, newline + 1, buffer.Length - newline - 1);
                return AuditLine.TryParse(line, out var record, out var error)
                    ? record
                    : throw new AuditTrailException($"audit:path: the last entry of '{_path}' is unreadable ({error}). Run 'audit verify {_path}'.");
            }

            chunk *= 4;
        }
    }

    public async ValueTask AppendAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        var line = AuditLine.Format(record);
        _file.Position = _file.Length;
        await _file.WriteAsync(line, cancellationToken).ConfigureAwait(false);
        // fsync: the entry is on disk before the action is reported done.
        _file.Flush(flushToDisk: true);
    }

    public void Dispose()
    {
        _file.Dispose();
        _lock.Dispose();
    }
}

/// <summary>The JSON-lines form of a record.</summary>
internal static class AuditLine
{
    public static byte[] Format(AuditRecord record)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("seq", record.Sequence);
            json.WriteString("ts", record.Timestamp);
            json.WriteString("action", record.Action);
            json.WriteString("actor", record.Actor);
            json.WritePropertyName("details");
            json.WriteRawValue(record.Details, skipInputValidation: false);
            json.WriteString("prev", record.PreviousHash);
            json.WriteString("hash", record.Hash);
            json.WriteEndObject();
        }

        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    public static bool TryParse(string line, out AuditRecord? record, out string? error)
    {
        record = null;
        try
        {
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = "not a JSON object";
                return false;
            }

            if (!TryGet(root, "seq", JsonValueKind.Number, out var seq, out error)
                || !TryGet(root, "ts", JsonValueKind.String, out var ts, out error)
                || !TryGet(root, "action", JsonValueKind.String, out var action, out error)
                || !TryGet(root, "actor", JsonValueKind.String, out var actor, out error)
                || !TryGet(root, "prev", JsonValueKind.String, out var prev, out error)
                || !TryGet(root, "hash", JsonValueKind.String, out var hash, out error))
            {
                return false;
            }

            if (!root.TryGetProperty("details", out var details))
            {
                error = "no 'details'";
                return false;
            }

            if (!seq.TryGetInt64(out var sequence))
            {
                error = "'seq' is not an integer";
                return false;
            }

            record = new AuditRecord(sequence, ts.GetString()!, action.GetString()!, actor.GetString()!, details.GetRawText(), prev.GetString()!, hash.GetString()!);
            error = null;
            return true;
        }
        catch (JsonException ex)
        {
            error = "not valid JSON: " + ex.Message;
            return false;
        }
    }

    private static bool TryGet(JsonElement root, string name, JsonValueKind kind, out JsonElement value, out string? error)
    {
        if (!root.TryGetProperty(name, out value) || value.ValueKind != kind)
        {
            error = $"'{name}' is missing or not a {kind.ToString().ToLowerInvariant()}";
            return false;
        }

        error = null;
        return true;
    }
}
