using System.Diagnostics;
using System.Globalization;
using Gateway.Grpc.Governance.Storage;
using Microsoft.Data.Sqlite;

// CPU per ledger row of the SQLite store's batch append (the path the gateway's LedgerWriter
// takes: one transaction, one prepared statement, 500 rows per batch as the writer's default,
// and the batch's sums upserted into the hourly usage rollup), alone in its process.
// Usage: dotnet run -c Release --project bench/Ledger.Benchmarks -- [rows] [--drop-ts-index] [--anonymous] [--batch N]
// rows: how many are measured (default 200,000), after a 3 s warm-up of rows of their own.
// --drop-ts-index drops the ledger's one remaining time index (gw_ledger_ts), to price it;
// --anonymous writes rows without key and team (a gateway in open mode, as bench/run.sh runs it).
var rows = args.Length > 0 && int.TryParse(args[0], CultureInfo.InvariantCulture, out var n) ? n : 200_000;
var dropIndexes = args.Contains("--drop-ts-index");
var anonymous = args.Contains("--anonymous");
var batchAt = Array.IndexOf(args, "--batch");
var batchSize = 500;
if (batchAt >= 0 && (batchAt + 1 >= args.Length || !int.TryParse(args[batchAt + 1], CultureInfo.InvariantCulture, out batchSize) || batchSize < 1))
{
    Console.Error.WriteLine("--batch: give a positive number of rows per batch, for example --batch 2000");
    return 2;
}

if (rows < batchSize)
{
    Console.Error.WriteLine($"rows: at least one batch ({batchSize})");
    return 2;
}

var directory = Directory.CreateTempSubdirectory("ledger-bench-");
try
{
    var path = Path.Combine(directory.FullName, "ledger.db");
    var store = new SqliteGovernanceStore(path);
    await store.MigrateAsync(CancellationToken.None);
    if (dropIndexes)
    {
        using var connection = new SqliteConnection($"Data Source={path}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "DROP INDEX gw_ledger_ts;";
        command.ExecuteNonQuery();
    }

    // Rows shaped like the gateway's: time-ordered request ids, 50 keys in 5 teams, one model.
    var start = DateTimeOffset.UtcNow;
    var next = 0;
    List<LedgerEntry> NextBatch()
    {
        var batch = new List<LedgerEntry>(batchSize);
        for (var i = 0; i < batchSize; i++, next++)
        {
            var at = start.AddMilliseconds(next / 10);
            batch.Add(new LedgerEntry
            {
                RequestId = "cmpl-" + (at.ToUnixTimeMilliseconds() & 0xFFFF_FFFF_FFFF).ToString("x12", CultureInfo.InvariantCulture) + Random.Shared.NextInt64(0, 1L << 48).ToString("x12", CultureInfo.InvariantCulture),
                Timestamp = at,
                KeyId = anonymous ? null : "key_" + (next % 50).ToString(CultureInfo.InvariantCulture),
                TeamId = anonymous ? null : "team-" + (next % 5).ToString(CultureInfo.InvariantCulture),
                Model = "bench-grpc",
                Deployment = "sim-grpc",
                Provider = "grpc",
                Route = "grpc",
                InputTokens = 12,
                OutputTokens = 20,
                CostUsd = 0.000123m,
                LatencyMs = 1,
                Status = "OK",
                Attempts = 1,
            });
        }

        return batch;
    }

    // Warm-up, by time: tiered JIT moves a method to optimized code only after a quiet 100 ms
    // and then 30 more calls, compiled on a background thread. A fixed 10,000 rows (20 batches)
    // ended before that, and the JIT thread took about a third of a run's samples, much of it
    // inside the measured part. Three seconds of appends let it finish; the measured rows are
    // generated before the clock starts.
    var warmUp = Stopwatch.StartNew();
    var warmUpRows = 0;
    while (warmUp.Elapsed < TimeSpan.FromSeconds(3))
    {
        var batch = NextBatch();
        await store.AppendLedgerAsync(batch, CancellationToken.None);
        warmUpRows += batch.Count;
    }

    var batches = new List<List<LedgerEntry>>();
    for (var b = 0; b < rows / batchSize; b++)
    {
        batches.Add(NextBatch());
    }

    using var process = Process.GetCurrentProcess();
    var cpuBefore = process.TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    foreach (var batch in batches)
    {
        await store.AppendLedgerAsync(batch, CancellationToken.None);
    }

    process.Refresh();
    var measured = batches.Count * batchSize;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rows {measured} (after {warmUpRows} in 3 s of warm-up, {batchSize} per batch){(dropIndexes ? ", ts index dropped" : "")}{(anonymous ? ", no key or team" : "")}: CPU {(process.TotalProcessorTime - cpuBefore).TotalMicroseconds / measured:F2} µs per row, wall {clock.Elapsed.TotalMicroseconds / measured:F2} µs per row"));
    store.Dispose();
    return 0;
}
finally
{
    SqliteConnection.ClearAllPools();
    directory.Delete(recursive: true);
}
