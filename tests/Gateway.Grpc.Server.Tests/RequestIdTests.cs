using Gateway.Grpc.Server.Services;
using Xunit;

namespace Gateway.Grpc.Server.Tests;

public sealed class RequestIdTests
{
    [Fact]
    public void Ids_are_the_prefix_and_24_lowercase_hex_digits()
    {
        var id = RequestIds.New();
        Assert.StartsWith("cmpl-", id, StringComparison.Ordinal);
        Assert.Equal(29, id.Length);
        Assert.All(id[5..], c => Assert.True(char.IsAsciiHexDigitLower(c) || char.IsAsciiDigit(c), $"'{c}' in {id}"));
    }

    [Fact]
    public void Ids_sort_by_time_so_the_ledger_index_grows_at_its_end()
    {
        var start = DateTimeOffset.Parse("2026-12-03T18:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        var ids = Enumerable.Range(0, 200).Select(i => RequestIds.New(start.AddMilliseconds(i * 7))).ToList();
        Assert.Equal(ids, ids.Order(StringComparer.Ordinal));
        Assert.Equal(start.ToUnixTimeMilliseconds(), Convert.ToInt64(ids[0][5..17], 16));
    }

    [Fact]
    public void Ids_made_in_the_same_millisecond_differ()
    {
        var now = DateTimeOffset.UtcNow;
        var ids = Enumerable.Range(0, 1000).Select(_ => RequestIds.New(now)).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(1000, ids.Count);
    }
}
