using System.Globalization;
using System.Text;
using Gateway.Grpc.Governance.Storage;

namespace Gateway.Grpc.Console.Internal;

/// <summary>Totals of one group (a bucket of time, a team, a key, a model, a deployment).</summary>
internal sealed record SpendGroup(string Name, long Requests, long SuccessfulRequests, long InputTokens, long OutputTokens, decimal CostUsd, decimal SavedCostUsd)
{
    /// <summary>A readable name for a team or key group (its name in the store); null for the others.</summary>
    public string? Label { get; init; }

    public decimal? CostPerRequest => Requests > 0 ? Math.Round(CostUsd / Requests, 8) : null;

    /// <summary>All spend (failed calls and abandoned attempts included) over the calls that succeeded.</summary>
    public decimal? CostPerSuccessfulRequest => SuccessfulRequests > 0 ? Math.Round(CostUsd / SuccessfulRequests, 8) : null;
}

/// <summary>A monthly budget and how much of it is spent: cumulative spend per day of the month.</summary>
internal sealed record BudgetBurn(string Scope, string Id, string Name, decimal BudgetUsd, decimal SpentUsd, double Percent, int[] MarksReached, List<string> Days, List<decimal> Cumulative);

internal sealed record SpendResponse(
    string From,
    string To,
    string Bucket,
    SpendGroup Totals,
    List<SpendGroup> Series,
    List<SpendGroup> ByTeam,
    List<SpendGroup> ByKey,
    List<SpendGroup> ByModel,
    List<SpendGroup> ByDeployment,
    List<BudgetBurn> Budgets);

/// <summary>
/// The Spend page's numbers, from the ledger through <see cref="IGovernanceStore.QueryUsageAsync"/>
/// (the same query the admin API's GetUsage runs): one query by day, team, key, model and
/// deployment over the range, summed here into buckets and dimensions; one by day and key or team
/// over the current month for budget burn-down.
/// </summary>
internal sealed class SpendReport(IGovernanceStore store, TimeProvider timeProvider)
{
    public static readonly int[] AlertMarks = [50, 80, 100];

    public async Task<(DateTimeOffset From, DateTimeOffset To, IReadOnlyList<UsageRow> Rows)> RowsAsync(int days, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var from = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero).AddDays(1 - days);
        var to = now.AddSeconds(1);
        var rows = await store.QueryUsageAsync(new UsageQuery
        {
            From = from,
            To = to,
            GroupBy = [UsageGrouping.Day, UsageGrouping.Team, UsageGrouping.Key, UsageGrouping.Model, UsageGrouping.Deployment],
        }, cancellationToken).ConfigureAwait(false);
        return (from, to, rows);
    }

    public async Task<SpendResponse> BuildAsync(int days, string bucket, CancellationToken cancellationToken)
    {
        var (from, to, rows) = await RowsAsync(days, cancellationToken).ConfigureAwait(false);
        var series = new List<SpendGroup>();
        var buckets = new List<string>();
        for (var day = from.UtcDateTime.Date; day <= to.UtcDateTime.Date; day = day.AddDays(1))
        {
            var label = BucketOf(day, bucket);
            if (buckets.Count == 0 || buckets[^1] != label)
            {
                buckets.Add(label);
            }
        }

        var byBucket = Sum(rows, r => BucketOf(DateTime.ParseExact(r.Day!, "yyyy-MM-dd", CultureInfo.InvariantCulture), bucket));
        foreach (var label in buckets)
        {
            series.Add(byBucket.Find(g => g.Name == label) ?? new SpendGroup(label, 0, 0, 0, 0, 0, 0));
        }

        var totals = Sum(rows, static _ => "total").FirstOrDefault() ?? new SpendGroup("total", 0, 0, 0, 0, 0, 0);
        var teams = await store.ListTeamsAsync(cancellationToken).ConfigureAwait(false);
        var keys = await store.ListKeysAsync(null, cancellationToken).ConfigureAwait(false);
        var teamNames = teams.ToDictionary(static t => t.Id, static t => t.Name, StringComparer.Ordinal);
        var keyNames = keys.ToDictionary(static k => k.Id, static k => string.IsNullOrEmpty(k.Name) ? k.Prefix : k.Name, StringComparer.Ordinal);
        return new SpendResponse(
            Iso(from), Iso(to), bucket, totals, series,
            ByCost(Sum(rows, static r => r.TeamId ?? "(no team)").ConvertAll(g => g with { Label = teamNames.GetValueOrDefault(g.Name) })),
            ByCost(Sum(rows, static r => r.KeyId ?? "(no key)").ConvertAll(g => g with { Label = keyNames.GetValueOrDefault(g.Name) })),
            ByCost(Sum(rows, static r => r.Model ?? "")),
            ByCost(Sum(rows, static r => string.IsNullOrEmpty(r.Deployment) ? "(none)" : r.Deployment)),
            await BudgetsAsync(teams, keys, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>The rows as CSV (RFC 4180), one per day, team, key, model and deployment.</summary>
    public static string Csv(IReadOnlyList<UsageRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var csv = new StringBuilder("day,team_id,key_id,model,deployment,requests,successful_requests,input_tokens,output_tokens,cost_usd,saved_cost_usd\r\n");
        foreach (var r in rows)
        {
            csv.Append(Field(r.Day)).Append(',').Append(Field(r.TeamId)).Append(',').Append(Field(r.KeyId)).Append(',')
                .Append(Field(r.Model)).Append(',').Append(Field(r.Deployment)).Append(',')
                .Append(r.Requests.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(r.SuccessfulRequests.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(r.InputTokens.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(r.OutputTokens.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(r.CostUsd.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(r.SavedCostUsd.ToString(CultureInfo.InvariantCulture)).Append("\r\n");
        }

        return csv.ToString();
    }

    /// <summary>A CSV field: quoted when it needs to be; a leading = + - @ is neutralised so a spreadsheet does not run it as a formula.</summary>
    internal static string Field(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }

        if (value[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
        {
            value = "'" + value;
        }

        return value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }

    private async Task<List<BudgetBurn>> BudgetsAsync(IReadOnlyList<TeamRecord> allTeams, IReadOnlyList<KeyRecord> allKeys, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var monthStart = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        var days = new List<string>();
        for (var day = monthStart.UtcDateTime; day <= now.UtcDateTime.Date; day = day.AddDays(1))
        {
            days.Add(day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        }

        var result = new List<BudgetBurn>();
        var teams = allTeams.Where(static t => t.Limits.MonthlyBudgetUsd is > 0).ToList();
        var keys = allKeys.Where(static k => k.Limits.MonthlyBudgetUsd is > 0 && k.RevokedAt is null).ToList();
        if (teams.Count > 0)
        {
            var rows = await store.QueryUsageAsync(new UsageQuery { From = monthStart, To = now.AddSeconds(1), GroupBy = [UsageGrouping.Day, UsageGrouping.Team] }, cancellationToken).ConfigureAwait(false);
            foreach (var team in teams)
            {
                result.Add(Burn("team", team.Id, team.Name, team.Limits.MonthlyBudgetUsd!.Value, days, rows.Where(r => r.TeamId == team.Id)));
            }
        }

        if (keys.Count > 0)
        {
            var rows = await store.QueryUsageAsync(new UsageQuery { From = monthStart, To = now.AddSeconds(1), GroupBy = [UsageGrouping.Day, UsageGrouping.Key] }, cancellationToken).ConfigureAwait(false);
            foreach (var key in keys)
            {
                result.Add(Burn("key", key.Id, string.IsNullOrEmpty(key.Name) ? key.Prefix : key.Name, key.Limits.MonthlyBudgetUsd!.Value, days, rows.Where(r => r.KeyId == key.Id)));
            }
        }

        result.Sort(static (a, b) => b.Percent.CompareTo(a.Percent));
        return result;
    }

    private static BudgetBurn Burn(string scope, string id, string name, decimal budget, List<string> days, IEnumerable<UsageRow> rows)
    {
        var perDay = rows.Where(static r => r.Day is not null).GroupBy(static r => r.Day!).ToDictionary(static g => g.Key, static g => g.Sum(static r => r.CostUsd), StringComparer.Ordinal);
        var cumulative = new List<decimal>(days.Count);
        var sum = 0m;
        foreach (var day in days)
        {
            sum += perDay.GetValueOrDefault(day);
            cumulative.Add(sum);
        }

        var percent = budget > 0 ? (double)(sum / budget * 100m) : 0;
        return new BudgetBurn(scope, id, name, budget, sum, Math.Round(percent, 2), AlertMarks.Where(m => percent >= m).ToArray(), days, cumulative);
    }

    private static List<SpendGroup> Sum(IReadOnlyList<UsageRow> rows, Func<UsageRow, string> key)
        => rows.GroupBy(key, StringComparer.Ordinal).Select(static g => new SpendGroup(
            g.Key,
            g.Sum(static r => r.Requests),
            g.Sum(static r => r.SuccessfulRequests),
            g.Sum(static r => r.InputTokens),
            g.Sum(static r => r.OutputTokens),
            g.Sum(static r => r.CostUsd),
            g.Sum(static r => r.SavedCostUsd))).ToList();

    private static List<SpendGroup> ByCost(List<SpendGroup> groups)
    {
        groups.Sort(static (a, b) => b.CostUsd != a.CostUsd ? b.CostUsd.CompareTo(a.CostUsd) : b.Requests.CompareTo(a.Requests));
        return groups;
    }

    /// <summary>day: yyyy-MM-dd; week: the ISO week (yyyy-Www); month: yyyy-MM.</summary>
    internal static string BucketOf(DateTime day, string bucket) => bucket switch
    {
        "week" => ISOWeek.GetYear(day).ToString(CultureInfo.InvariantCulture) + "-W" + ISOWeek.GetWeekOfYear(day).ToString("00", CultureInfo.InvariantCulture),
        "month" => day.ToString("yyyy-MM", CultureInfo.InvariantCulture),
        _ => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
    };

    private static string Iso(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
