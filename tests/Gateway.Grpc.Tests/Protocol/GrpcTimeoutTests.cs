using Gateway.Grpc.Protocol.Internal;

namespace Gateway.Grpc.Tests.Protocol;

public sealed class GrpcTimeoutTests
{
    public static TheoryData<string, long> ValidValues => new()
    {
        { "1H", TimeSpan.TicksPerHour },
        { "2M", 2 * TimeSpan.TicksPerMinute },
        { "3S", 3 * TimeSpan.TicksPerSecond },
        { "4m", 4 * TimeSpan.TicksPerMillisecond },
        { "5u", 50 },
        { "700n", 7 },
        { "0m", 0 },
        { "00000001S", TimeSpan.TicksPerSecond },
        { "99999999S", 99_999_999 * TimeSpan.TicksPerSecond },
        { "99999999H", 99_999_999 * TimeSpan.TicksPerHour },
    };

    [Theory]
    [MemberData(nameof(ValidValues))]
    public void TryParse_EveryUnit_ParsesExactly(string value, long expectedTicks)
    {
        Assert.True(GrpcTimeout.TryParse(value, out var timeout));
        Assert.Equal(expectedTicks, timeout.Ticks);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("1")]
    [InlineData("10")]
    [InlineData("1s")]
    [InlineData("1h")]
    [InlineData("1x")]
    [InlineData("-1S")]
    [InlineData("+1S")]
    [InlineData(" 1S")]
    [InlineData("1S ")]
    [InlineData("1.5S")]
    [InlineData("1 S")]
    [InlineData("123456789S")]
    [InlineData("１S")]
    public void TryParse_BadInput_Refused(string? value)
    {
        Assert.False(GrpcTimeout.TryParse(value, out var timeout));
        Assert.Equal(TimeSpan.Zero, timeout);
    }

    public static TheoryData<long, string> Formatted => new()
    {
        { 0, "0u" },
        { -TimeSpan.TicksPerSecond, "0u" },
        { 1, "1u" },
        { 10, "1u" },
        { 11, "2u" },
        { TimeSpan.TicksPerSecond, "1000000u" },
        { 99_999_999 * 10L, "99999999u" },
        { 99_999_999 * 10L + 1, "100000m" },
        { 200 * TimeSpan.TicksPerSecond, "200000m" },
        { 100_000 * TimeSpan.TicksPerSecond, "100000S" },
        { 100_000_000 * TimeSpan.TicksPerSecond, "1666667M" },
        { TimeSpan.MaxValue.Ticks, "99999999H" },
    };

    [Theory]
    [MemberData(nameof(Formatted))]
    public void Format_FinestUnitThatFits_RoundedUp(long ticks, string expected)
    {
        var value = GrpcTimeout.Format(TimeSpan.FromTicks(ticks));

        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData(1L)]
    [InlineData(12_345L)]
    [InlineData(TimeSpan.TicksPerMillisecond * 1500)]
    [InlineData(TimeSpan.TicksPerSecond * 3600 * 3)]
    [InlineData(TimeSpan.TicksPerDay * 365 * 50)]
    public void Format_ThenParse_NeverShorterAndAtMostEightDigits(long ticks)
    {
        var value = GrpcTimeout.Format(TimeSpan.FromTicks(ticks));

        Assert.InRange(value.Length, 2, 9);
        Assert.True(GrpcTimeout.TryParse(value, out var parsed), value);
        Assert.True(parsed.Ticks >= ticks, $"{value} parsed to {parsed.Ticks} ticks, shorter than {ticks}");
    }
}
