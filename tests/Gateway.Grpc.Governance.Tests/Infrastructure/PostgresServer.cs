using System.Diagnostics;
using Npgsql;

namespace Gateway.Grpc.Governance.Tests.Infrastructure;

/// <summary>
/// A throwaway PostgreSQL 15 server for the collection: initdb into a temp directory, started
/// on a free loopback port with trust auth and fsync off, stopped and deleted at the end.
/// Run as root (CI), the server runs as the <c>postgres</c> system user, since postgres refuses root.
/// Each test gets its own schema, so tests stay isolated while sharing one server.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    public const string BinDirectory = "/usr/lib/postgresql/15/bin";
    private const string Database = "gateway_tests";

    private readonly string _root = Path.Combine(Path.GetTempPath(), "gw-pg-" + Guid.NewGuid().ToString("N")[..12]);
    private bool _started;
    private int _schemas;

    public int Port { get; private set; }

    private string DataDirectory => Path.Combine(_root, "data");

    public async Task InitializeAsync()
    {
        foreach (var tool in new[] { "initdb", "pg_ctl", "postgres" })
        {
            if (!File.Exists(Path.Combine(BinDirectory, tool)))
            {
                throw new InvalidOperationException($"PostgreSQL 15 is not installed ({BinDirectory}/{tool} is missing): run `apt-get install -y postgresql` (scripts/deps/ledger.sh does).");
            }
        }

        Directory.CreateDirectory(_root);
        var asRoot = Environment.UserName == "root";
        if (asRoot)
        {
            await RunAsync("chown", ["postgres:postgres", _root]).ConfigureAwait(false);
        }

        await RunAsPostgresAsync(asRoot, "initdb", ["-D", DataDirectory, "--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-locale", "--no-sync"]).ConfigureAwait(false);
        Port = Gateway.Grpc.TestSupport.LoopbackPort.Reserve();
        await StartAsync().ConfigureAwait(false);

        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync().ConfigureAwait(false);
        await using var create = new NpgsqlCommand($"CREATE DATABASE {Database}", connection);
        await create.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    /// <summary>Starts the server (again) on its port; returns once it accepts connections.</summary>
    public async Task StartAsync()
    {
        var serverOptions = $"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300";
        await RunAsPostgresAsync(Environment.UserName == "root", "pg_ctl", ["-D", DataDirectory, "-o", serverOptions, "-l", Path.Combine(_root, "server.log"), "-w", "-t", "60", "start"]).ConfigureAwait(false);
        _started = true;
    }

    /// <summary>Stops the server (fast shutdown: open sessions are disconnected), keeping its data.</summary>
    public async Task StopAsync()
    {
        await RunAsPostgresAsync(Environment.UserName == "root", "pg_ctl", ["-D", DataDirectory, "-m", "fast", "-w", "stop"]).ConfigureAwait(false);
        _started = false;
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (_started)
        {
            await RunAsPostgresAsync(Environment.UserName == "root", "pg_ctl", ["-D", DataDirectory, "-m", "immediate", "-w", "stop"]).ConfigureAwait(false);
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>A connection string for a fresh, empty schema of the test database.</summary>
    public async Task<string> CreateSchemaAsync()
    {
        var schema = $"t{Interlocked.Increment(ref _schemas)}_{Guid.NewGuid().ToString("N")[..8]}";
        await using (var connection = new NpgsqlConnection(ConnectionString(Database)))
        {
            await connection.OpenAsync().ConfigureAwait(false);
            await using var create = new NpgsqlCommand($"CREATE SCHEMA {schema}", connection);
            await create.ExecuteNonQueryAsync().ConfigureAwait(false);
        }

        return ConnectionString(Database) + $";Search Path={schema}";
    }

    public string ConnectionString(string database) => $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Maximum Pool Size=20;Timeout=15";

    private async Task RunAsPostgresAsync(bool asRoot, string tool, IReadOnlyList<string> arguments)
    {
        var path = Path.Combine(BinDirectory, tool);
        if (asRoot)
        {
            await RunAsync("runuser", ["-u", "postgres", "--", path, .. arguments]).ConfigureAwait(false);
        }
        else
        {
            await RunAsync(path, arguments).ConfigureAwait(false);
        }
    }

    private async Task RunAsync(string fileName, IReadOnlyList<string> arguments)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _root,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {fileName}.");

        // pg_ctl start leaves the server holding the inherited pipes open, so read to the end only after exit.
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            var log = Path.Combine(_root, "server.log");
            throw new InvalidOperationException($"{fileName} {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{await stdout.ConfigureAwait(false)}\n{await stderr.ConfigureAwait(false)}"
                + (File.Exists(log) ? "\nserver.log:\n" + await File.ReadAllTextAsync(log).ConfigureAwait(false) : ""));
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "postgres";
}
