using System.Data.Common;

namespace Gateway.Grpc.Governance.Storage.Sql;

/// <summary>What differs between the SQL stores in the statements they share: column types and two expressions.</summary>
internal abstract class SqlDialect
{
    /// <summary>Product name for messages ("SQLite", "PostgreSQL").</summary>
    public abstract string Name { get; }

    /// <summary>The UTC day of a timestamp column, read back by <see cref="ReadDay"/>.</summary>
    public abstract string DayOf(string column);

    public abstract object Timestamp(DateTimeOffset value);

    public abstract DateTimeOffset ReadTimestamp(DbDataReader reader, int ordinal);

    public abstract object Money(decimal value);

    public abstract decimal ReadMoney(DbDataReader reader, int ordinal);

    /// <summary>An exact sum of a money column that is 0 over no rows.</summary>
    public abstract string SumMoney(string column);

    /// <summary>yyyy-MM-dd from the value of <see cref="DayOf"/>.</summary>
    public abstract string ReadDay(DbDataReader reader, int ordinal);

    public abstract void AddJson(DbCommand command, string name, string json);

    public static void Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }

    public void AddTimestamp(DbCommand command, string name, DateTimeOffset? value)
        => Add(command, name, value is { } v ? Timestamp(v) : null);

    public DateTimeOffset? ReadNullableTimestamp(DbDataReader reader, int ordinal)
        => reader.IsDBNull(ordinal) ? null : ReadTimestamp(reader, ordinal);
}
