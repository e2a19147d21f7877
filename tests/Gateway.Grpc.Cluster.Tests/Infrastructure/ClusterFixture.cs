using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Gateway.Grpc.Governance.Tests.Infrastructure;
using Gateway.Grpc.TestSupport;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Configuration;
using Npgsql;

namespace Gateway.Grpc.Cluster.Tests.Infrastructure;

/// <summary>
/// The topology of README "Running several replicas" on one machine: three gateway processes
/// (the real server, <c>Gateway.Grpc.Server.dll</c>) sharing one redis-server and one PostgreSQL,
/// nginx balancing gRPC and HTTP over them, the provider simulator behind them. Everything runs
/// on free loopback ports and is stopped when the class is done, also when a test fails.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const string MasterKey = "mk-cluster-5d2f9a7c1e";
    public const int Replicas = 3;
    private const string MasterKeyEnv = "CLUSTER_GATEWAY_MASTER_KEY";
    private const string StoreEnv = "CLUSTER_GATEWAY_STORE";

    private readonly List<GatewayProcess> _replicas = [];
    private DirectoryInfo? _directory;

    public SimulatorFixture Simulator { get; } = new();

    public PostgresServer Postgres { get; } = new();

    internal RedisServer Redis { get; private set; } = null!;

    internal NginxServer Nginx { get; private set; } = null!;

    /// <summary>The replicas, in start order (a test may kill one; see <see cref="Live"/>).</summary>
    internal IReadOnlyList<GatewayProcess> All => _replicas;

    internal IEnumerable<GatewayProcess> Live => _replicas.Where(static r => !r.HasExited);

    /// <summary>The replicas' configuration (a test may start one more with a variation).</summary>
    internal IReadOnlyDictionary<string, string?> Config { get; private set; } = new Dictionary<string, string?>();

    /// <summary>Starts one more gateway process on the same stores with <paramref name="overrides"/>; the caller disposes it.</summary>
    internal async Task<GatewayProcess> StartExtraAsync(IReadOnlyDictionary<string, string?> overrides)
    {
        var config = new Dictionary<string, string?>(Config);
        foreach (var (key, value) in overrides)
        {
            config[key] = value;
        }

        return await GatewayProcess.StartAsync(config, _directory!.FullName);
    }

    /// <summary>The ledger database (the replicas' schema).</summary>
    public string LedgerConnectionString { get; private set; } = "";

    /// <summary>A channel to the load balancer with the client retry policy the README documents.</summary>
    public GrpcChannel Balanced { get; private set; } = null!;

    public Metadata Admin { get; } = new() { { "authorization", "Bearer " + MasterKey } };

    /// <summary>
    /// The documented client retry policy: retry UNAVAILABLE (a replica that died with the call in
    /// flight, answered 502 by the balancer) up to 5 attempts with exponential backoff.
    /// </summary>
    public static ServiceConfig RetryPolicy() => new()
    {
        MethodConfigs =
        {
            new MethodConfig
            {
                Names = { MethodName.Default },
                RetryPolicy = new global::Grpc.Net.Client.Configuration.RetryPolicy
                {
                    MaxAttempts = 5,
                    InitialBackoff = TimeSpan.FromMilliseconds(100),
                    MaxBackoff = TimeSpan.FromSeconds(1),
                    BackoffMultiplier = 2,
                    RetryableStatusCodes = { StatusCode.Unavailable },
                },
            },
        },
    };

    public async Task InitializeAsync()
    {
        try
        {
            await StartAsync();
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    private async Task StartAsync()
    {
        await Simulator.InitializeAsync();
        await Postgres.InitializeAsync();
        Redis = await RedisServer.StartAsync();
        LedgerConnectionString = await Postgres.CreateSchemaAsync();
        Environment.SetEnvironmentVariable(StoreEnv, LedgerConnectionString);
        Environment.SetEnvironmentVariable(MasterKeyEnv, MasterKey);
        _directory = Directory.CreateTempSubdirectory("gw-cluster-");

        var sim = Simulator;
        var config = new GatewayConfig()
            .Model("rpm-model", [sim.Deployment("openai", "rpm-1")], static (v, p) => v[p + "requestsPerMinute"] = "300")
            .Model("tpm-model", [sim.Deployment("openai", "tpm-1")], static (v, p) => v[p + "tokensPerMinute"] = "12000")
            .Model("budget-model", [sim.Deployment("openai", "budget-1")])
            // Slow enough (40 ms to the first token) that calls are in flight when a replica dies.
            .Model("load-model", [sim.Deployment("openai", "load-1", new Dictionary<string, string> { ["x-sim-ttft-ms"] = "40" })])
            .Set("pricing:gpt-4o-mini:input", "2.5")
            .Set("pricing:gpt-4o-mini:output", "10")
            .Set("store:kind", "postgres")
            .Set("store:connectionString", "env:" + StoreEnv)
            .Set("store:ledgerCommitWaitMs", "5000")
            .Set("rateLimits:backend", "redis")
            .Set("rateLimits:redis:endpoint", Redis.Endpoint)
            .Set("rateLimits:failOpen", "true")
            .Set("budgets:reconcileSeconds", "5")
            .Set("auth:masterKey", "env:" + MasterKeyEnv)
            .Set("auth:requireKeys", "false")
            .Build();

        Config = config;

        // In parallel: the schema migration takes an advisory lock, so replicas may race it.
        var starting = Enumerable.Range(0, Replicas).Select(_ => GatewayProcess.StartAsync(config, _directory.FullName)).ToArray();
        try
        {
            await Task.WhenAll(starting);
        }
        finally
        {
            foreach (var start in starting)
            {
                if (start.IsCompletedSuccessfully)
                {
                    _replicas.Add(start.Result);
                }
            }
        }

        Nginx = await NginxServer.StartAsync(_replicas.Select(static r => (r.GrpcPort, r.HttpPort)).ToArray());
        Balanced = GrpcChannel.ForAddress(Nginx.GrpcAddress, new GrpcChannelOptions { ServiceConfig = RetryPolicy(), MaxRetryAttempts = 5 });
    }

    /// <summary>The ledger rows whose request id starts with <paramref name="prefix"/>: id → (status, input, output, cost).</summary>
    public async Task<Dictionary<string, (string Status, long Input, long Output, decimal Cost)>> LedgerAsync(string prefix)
    {
        var rows = new Dictionary<string, (string, long, long, decimal)>(StringComparer.Ordinal);
        await using var connection = new NpgsqlConnection(LedgerConnectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("SELECT request_id, status, input_tokens, output_tokens, cost_usd FROM gw_ledger WHERE request_id LIKE @prefix", connection);
        query.Parameters.AddWithValue("prefix", prefix + "%");
        await using var reader = await query.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows[reader.GetString(0)] = (reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetDecimal(4));
        }

        return rows;
    }

    /// <summary>The ledger's spend of a team.</summary>
    public async Task<decimal> TeamSpendAsync(string teamId)
    {
        await using var connection = new NpgsqlConnection(LedgerConnectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("SELECT COALESCE(SUM(cost_usd), 0) FROM gw_ledger WHERE team_id = @team", connection);
        query.Parameters.AddWithValue("team", teamId);
        return (decimal)(await query.ExecuteScalarAsync())!;
    }

    /// <summary>What the replicas printed (for failure messages).</summary>
    public string Logs => string.Join("\n", _replicas.Select((r, i) => $"--- replica {i}:\n{r.Output}")) + (Nginx is null ? "" : "\n--- nginx:\n" + Nginx.ErrorLog);

    public async Task DisposeAsync()
    {
        Balanced?.Dispose();
        await Try(async () => { if (Nginx is not null) { await Nginx.DisposeAsync(); } });
        foreach (var replica in _replicas)
        {
            await Try(async () => await replica.DisposeAsync());
        }

        await Try(async () => { if (Redis is not null) { await Redis.DisposeAsync(); } });
        await Try(Postgres.DisposeAsync);
        await Try(Simulator.DisposeAsync);
        if (_directory is not null)
        {
            await Try(() => { _directory.Delete(recursive: true); return Task.CompletedTask; });
        }
    }

    /// <summary>Each piece is stopped even when another one fails to stop.</summary>
    private static async Task Try(Func<Task> stop)
    {
        try
        {
            await stop();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or TimeoutException or ObjectDisposedException)
        {
        }
    }
}
