using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Telemetry;
using Gateway.Grpc.Tokenizer;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Hosting;

/// <summary>
/// Gives memory back when the gateway goes quiet. Under load the GC keeps large generation-0
/// budgets and the heap it grew (that is what keeps allocation cheap); once no completion call
/// has started for <see cref="GatewayOptions.IdleTrimSeconds"/> and none is in flight, one
/// aggressive, compacting full collection decommits what is free, and the C library's heap gives
/// back its free pages (<see cref="NativeHeapTrim"/>). It runs once per quiet spell; the next
/// call re-arms it. The pause costs milliseconds on an idle process. A spell that lasts
/// <see cref="GatewayOptions.TokenizerIdleSeconds"/> also lets go of the tokenizer vocabularies
/// (<see cref="TiktokenTokenizer.ReleaseShared"/>, about 40 MB for o200k_base) and trims again;
/// the next count loads them back.
/// </summary>
internal sealed partial class IdleMemoryTrimmer(CompletionTelemetry calls, GatewayOptions options, TimeProvider timeProvider, ILogger<IdleMemoryTrimmer> logger) : BackgroundService
{
    private int _trims;
    private int _tokenizerReleases;
    private long _checks;
    private long _activity;

    /// <summary>
    /// Counts a request refused before it became a completion call (a body over the limit,
    /// malformed JSON): it allocated too, so it ends a quiet spell like a call does.
    /// </summary>
    public void NoteActivity() => Interlocked.Increment(ref _activity);

    /// <summary>Trims so far: one per quiet spell, and a second when the spell releases the tokenizer tables (for tests and logs).</summary>
    public int Trims => Volatile.Read(ref _trims);

    /// <summary>Quiet spells that lasted <see cref="GatewayOptions.TokenizerIdleSeconds"/> and released the tokenizer tables (for tests).</summary>
    public int TokenizerReleases => Volatile.Read(ref _tokenizerReleases);

    /// <summary>Timer ticks looked at so far, counted once each tick's decision is made (for tests).</summary>
    public long Checks => Interlocked.Read(ref _checks);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.IdleTrimSeconds <= 0)
        {
            return;
        }

        // Look often enough that the trim comes within a fifth of the idle time after it is due.
        var idleFor = TimeSpan.FromSeconds(options.IdleTrimSeconds);
        using var timer = new PeriodicTimer(idleFor / 5, timeProvider);
        var lastStarted = calls.CallsStarted + Interlocked.Read(ref _activity);
        var quietSince = timeProvider.GetTimestamp();
        var trimmed = false;
        // Never sooner than the trim itself; zero: the tokenizer tables stay.
        var tokenizerIdleFor = options.TokenizerIdleSeconds > 0
            ? TimeSpan.FromSeconds(Math.Max(options.TokenizerIdleSeconds, options.IdleTrimSeconds))
            : TimeSpan.Zero;

        var tokenizersReleased = false;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    var started = calls.CallsStarted + Interlocked.Read(ref _activity);
                    if (started != lastStarted || calls.CallsInFlight > 0)
                    {
                        lastStarted = started;
                        quietSince = timeProvider.GetTimestamp();
                        trimmed = false;
                        tokenizersReleased = false;
                        continue;
                    }

                    var quiet = timeProvider.GetElapsedTime(quietSince);
                    if (quiet < idleFor)
                    {
                        continue;
                    }

                    // The trim runs once a spell; a second time when the tokenizer tables go.
                    var releaseTokenizers = !tokenizersReleased && tokenizerIdleFor > TimeSpan.Zero && quiet >= tokenizerIdleFor;
                    if (trimmed && !releaseTokenizers)
                    {
                        continue;
                    }

                    var released = 0;
                    if (releaseTokenizers)
                    {
                        released = TiktokenTokenizer.ReleaseShared();
                        tokenizersReleased = true;
                        Interlocked.Increment(ref _tokenizerReleases);
                    }

                    var before = Environment.WorkingSet;
                    GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                    var native = NativeHeapTrim.TryTrim();
                    trimmed = true;
                    Interlocked.Increment(ref _trims);
                    Log.Trimmed(logger, (int)quiet.TotalSeconds, released, before >> 20, Environment.WorkingSet >> 20, GC.GetGCMemoryInfo(GCKind.Any).TotalCommittedBytes >> 20, GC.GetGCMemoryInfo(GCKind.Any).HeapSizeBytes >> 20, native);
                }
                finally
                {
                    Interlocked.Increment(ref _checks);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(90, LogLevel.Debug, "Idle for {Seconds}s: compacted the heap (tokenizer vocabularies released: {TokenizersReleased}), working set {BeforeMb} MB -> {AfterMb} MB ({CommittedMb} MB committed by the GC, {HeapMb} MB heap; C heap trimmed: {NativeTrimmed}).", EventName = "IdleTrim")]
        public static partial void Trimmed(ILogger logger, int seconds, int tokenizersReleased, long beforeMb, long afterMb, long committedMb, long heapMb, bool nativeTrimmed);
    }
}
