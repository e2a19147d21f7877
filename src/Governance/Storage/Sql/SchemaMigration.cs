namespace Gateway.Grpc.Governance.Storage.Sql;

/// <summary>
/// One step of a store's schema. Versions start at 1 and rise by one; a released step is never
/// edited (a database records which versions it has), a change is a new step.
/// </summary>
internal sealed record SchemaMigration(int Version, string Name, string Sql)
{
    /// <summary>Checks that a dialect's list is 1, 2, 3... so a gap or a reordering fails loudly at start-up, not silently later.</summary>
    public static IReadOnlyList<SchemaMigration> Validate(IReadOnlyList<SchemaMigration> migrations)
    {
        for (var i = 0; i < migrations.Count; i++)
        {
            if (migrations[i].Version != i + 1)
            {
                throw new InvalidOperationException($"Schema migration '{migrations[i].Name}' has version {migrations[i].Version}; expected {i + 1} (versions must be 1, 2, 3... in order).");
            }
        }

        return migrations;
    }
}
