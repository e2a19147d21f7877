using Gateway.Grpc.Console.Configuration;
using Gateway.Grpc.Console.Internal;
using Gateway.Grpc.Observability.AccessLog;

namespace Gateway.Grpc.Console.Tests;

/// <summary>The live tail's ring: rows made on read, newest first, never any body text.</summary>
public sealed class TrafficLogTests
{
    private static AccessLogEntry Entry(string id, string status = "OK", string? prompt = null) => new()
    {
        Timestamp = DateTimeOffset.UnixEpoch.AddHours(1),
        RequestId = id,
        Route = "grpc",
        Model = "m",
        Status = status,
        LatencyMs = 12.345,
        TimeToFirstTokenMs = 3.21,
        Attempts = 2,
        AttemptTrail = "1:a:failed:timeout,2:b:ok",
        Prompt = prompt,
        Completion = prompt is null ? null : "answer text",
    };

    [Fact]
    public void Since_NewestFirst_OnlyAfterSeq_RoundedLatency()
    {
        var log = new TrafficLog(new ConsoleOptions { TailSize = 10 }, TimeProvider.System);
        log.Add(Entry("r1"));
        log.Add(Entry("r2", "UNAVAILABLE"));
        log.Add(Entry("r3"));

        var (all, last) = log.Since(0, 10);
        Assert.Equal(3, last);
        Assert.Equal(["r3", "r2", "r1"], all.Select(e => e.RequestId));
        Assert.Equal((12.3, 3.2, 2, "1:a:failed:timeout,2:b:ok"), (all[0].LatencyMs, all[0].TimeToFirstTokenMs, all[0].Attempts, all[0].AttemptTrail));
        Assert.Equal([3L, 2L, 1L], all.Select(e => e.Seq));
        Assert.Equal(["r3"], log.Since(2, 10).Entries.Select(e => e.RequestId));
    }

    [Fact]
    public void Ring_OldestOverwritten()
    {
        var log = new TrafficLog(new ConsoleOptions { TailSize = 10 }, TimeProvider.System);
        for (var i = 1; i <= 15; i++)
        {
            log.Add(Entry("r" + i));
        }

        var (entries, last) = log.Since(0, 100);
        Assert.Equal(15, last);
        Assert.Equal(Enumerable.Range(6, 10).Reverse().Select(i => "r" + i), entries.Select(e => e.RequestId));
    }

    [Fact]
    public void EntryWithBodies_HeldWithoutThem_CallersEntryUntouched()
    {
        var log = new TrafficLog(new ConsoleOptions { TailSize = 10 }, TimeProvider.System);
        var entry = Entry("r1", prompt: "[{\"role\":\"user\",\"content\":\"secret prompt\"}]");
        log.Add(entry);

        // The access-log writer still gets its bodies.
        Assert.Equal(("[{\"role\":\"user\",\"content\":\"secret prompt\"}]", "answer text"), (entry.Prompt, entry.Completion));
        var stripped = entry.WithoutBodies();
        Assert.Equal((null, null, "r1", 12.345), (stripped.Prompt, stripped.Completion, stripped.RequestId, stripped.LatencyMs));
        Assert.Equal(entry with { Prompt = null, Completion = null }, stripped);
        var plain = Entry("r2");
        Assert.Equal(plain, plain.WithoutBodies());

        var row = Assert.Single(log.Since(0, 10).Entries);
        Assert.DoesNotContain("secret prompt", System.Text.Json.JsonSerializer.Serialize(row), StringComparison.Ordinal);
    }

    [Fact]
    public void ErrorsOverTime_LastHourByMinute_OlderMinutesDropped()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(1));
        var log = new TrafficLog(new ConsoleOptions { TailSize = 10 }, clock);
        var now = clock.GetUtcNow();
        AccessLogEntry Failed(TimeSpan ago, string errorKind) => new()
        {
            Timestamp = now - ago,
            RequestId = "r",
            Route = "grpc",
            Model = "m",
            Status = "UNAVAILABLE",
            ErrorKind = errorKind,
        };

        // Oldest first, as calls finish: 61 minutes ago falls out once a newer minute opens.
        log.Add(Failed(TimeSpan.FromMinutes(61), "timeout"));
        log.Add(Failed(TimeSpan.FromMinutes(59), "timeout"));
        log.Add(Failed(TimeSpan.FromMinutes(59), "server_error"));
        log.Add(Failed(TimeSpan.Zero, "timeout"));
        log.Add(Entry("ok"));

        var (minutes, series) = log.ErrorsOverTime();
        Assert.Equal(60, minutes.Count);
        Assert.Equal(now.UtcDateTime.ToString("HH:mm", System.Globalization.CultureInfo.InvariantCulture), minutes[^1]);
        var timeouts = series["timeout"];
        Assert.Equal((1, 1, 2), (timeouts[0], timeouts[59], timeouts.Sum()));
        Assert.Equal((1, 1), (series["server_error"][0], series["server_error"].Sum()));
    }
}
