using System.Data.Common;
using System.Globalization;

namespace Gateway.Grpc.Governance.Storage.Sql;

/// <summary>SQLite types: INTEGER UTC ticks, TEXT decimals summed by <c>gw_decimal_sum</c>, JSON as TEXT.</summary>
internal sealed class SqliteDialect : SqlDialect
{
    public const string DecimalSumFunction = "gw_decimal_sum";

    /// <summary>Exact a + b of two decimal TEXT values (the rollup's upsert).</summary>
    public const string DecimalAddFunction = "gw_decimal_add";

    public static readonly SqliteDialect Instance = new();

    public override string Name => "SQLite";

    // Ticks are never negative, so integer division is the floor: the day number since 0001-01-01.
    public override string DayOf(string column) => $"({column} / 864000000000)";

    public override object Timestamp(DateTimeOffset value) => value.UtcTicks;

    public override DateTimeOffset ReadTimestamp(DbDataReader reader, int ordinal) => new(reader.GetInt64(ordinal), TimeSpan.Zero);

    public override object Money(decimal value) => FormatMoney(value);

    public override decimal ReadMoney(DbDataReader reader, int ordinal) => ParseMoney(reader.GetString(ordinal));

    public override string SumMoney(string column) => $"{DecimalSumFunction}({column})";

    public override string ReadDay(DbDataReader reader, int ordinal)
        => new DateTime(reader.GetInt64(ordinal) * TimeSpan.TicksPerDay, DateTimeKind.Utc).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    public override void AddJson(DbCommand command, string name, string json) => Add(command, name, json);

    public static string FormatMoney(decimal value) => value.ToString(CultureInfo.InvariantCulture);

    public static decimal ParseMoney(string text)
        => decimal.TryParse(text, NumberStyles.Number | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new InvalidDataException($"A money column holds '{text}', which is not a decimal number.");
}
