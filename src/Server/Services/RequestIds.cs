using System.Buffers.Binary;

namespace Gateway.Grpc.Server.Services;

/// <summary>
/// New request ids for gRPC and REST alike: <c>cmpl-</c>, then 12 hex digits of Unix
/// milliseconds and 12 random hex digits (48 bits). Time-ordered on purpose: the ledger keeps a
/// unique index on request_id, and a fully random id lands each row on a different index page
/// (one page write per row in SQLite's WAL, a random B-tree insert in PostgreSQL); ids that
/// grow with time append at the index's right edge. The random part comes from
/// <see cref="Random.Shared"/> (seeded from the OS per thread), not the cryptographic generator:
/// a request id names a call, it grants nothing, and OpenSSL's generator cost about 2 µs per
/// call here (its fork check is a getpid system call per call).
/// </summary>
internal static class RequestIds
{
    public const string Prefix = "cmpl-";

    public static string New() => New(DateTimeOffset.UtcNow);

    internal static string New(DateTimeOffset now)
        => string.Create(Prefix.Length + 24, (Millis: now.ToUnixTimeMilliseconds(), Random: Random.Shared.NextInt64()), static (chars, id) =>
        {
            // Written straight into the one string: no byte array, no hex string to concatenate.
            // Bytes 2..7 are the low 48 bits of the milliseconds (good until the year 10889),
            // bytes 10..15 the low 48 bits of the random number.
            Span<byte> bytes = stackalloc byte[16];
            BinaryPrimitives.WriteInt64BigEndian(bytes, id.Millis);
            BinaryPrimitives.WriteInt64BigEndian(bytes[8..], id.Random);
            Prefix.CopyTo(chars);
            Convert.TryToHexStringLower(bytes[2..8], chars.Slice(Prefix.Length, 12), out _);
            Convert.TryToHexStringLower(bytes[10..], chars[(Prefix.Length + 12)..], out _);
        });
}
