using System.Data.Common;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;

namespace Gateway.Grpc.Governance.Storage.Sql;

/// <summary>PostgreSQL types: timestamptz, numeric, jsonb.</summary>
internal sealed class PostgresDialect : SqlDialect
{
    public static readonly PostgresDialect Instance = new();

    public override string Name => "PostgreSQL";

    // AT TIME ZONE 'UTC' makes the day independent of the session's TimeZone setting.
    public override string DayOf(string column) => $"(({column} AT TIME ZONE 'UTC')::date)";

    // Npgsql writes a UTC DateTime as timestamptz (MinValue/MaxValue as -infinity/infinity, so open query bounds work).
    public override object Timestamp(DateTimeOffset value) => value.UtcDateTime;

    public override DateTimeOffset ReadTimestamp(DbDataReader reader, int ordinal)
        => new(DateTime.SpecifyKind(reader.GetFieldValue<DateTime>(ordinal), DateTimeKind.Utc));

    public override object Money(decimal value) => value;

    public override decimal ReadMoney(DbDataReader reader, int ordinal) => reader.GetDecimal(ordinal);

    public override string SumMoney(string column) => $"COALESCE(SUM({column}), 0)";

    public override string ReadDay(DbDataReader reader, int ordinal)
        => reader.GetFieldValue<DateOnly>(ordinal).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    public override void AddJson(DbCommand command, string name, string json)
        => command.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Jsonb) { Value = json });
}
