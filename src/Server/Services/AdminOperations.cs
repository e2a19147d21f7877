using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Gateway.Admin.V1;
using Gateway.Grpc.Console;
using Gateway.Grpc.Governance;
using Gateway.Grpc.Governance.Keys;
using Gateway.Grpc.Governance.Storage;
using Gateway.Grpc.Observability.Audit;
using Grpc.Core;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Services;

/// <summary>
/// The admin operations on teams, keys and usage, shared by gateway.admin.v1.AdminService (gRPC,
/// gRPC-Web, JSON transcoding) and the web console: one place validates, writes the store, drops
/// cached key lookups and appends the audit record naming who did it. Callers check that the
/// caller is an admin first. Failures are <see cref="RpcException"/>s the admin API returns as they are.
/// </summary>
internal sealed partial class AdminOperations(IGovernanceStore store, KeyAuthenticator authenticator, IAuditTrail audit, TimeProvider timeProvider, ILogger<AdminOperations> logger)
{
    public async Task<CreateTeamResponse> CreateTeamAsync(CreateTeamRequest request, AdminActor actor, CancellationToken cancellationToken)
    {
        var team = request.Team ?? throw Invalid("team: is required.");
        if (string.IsNullOrWhiteSpace(team.Name))
        {
            throw Invalid("team.name: is required.");
        }

        var now = timeProvider.GetUtcNow();
        var record = ToRecord(team, string.IsNullOrEmpty(team.Id) ? NewId("team") : team.Id, now, now);
        if (await store.GetTeamAsync(record.Id, cancellationToken).ConfigureAwait(false) is not null)
        {
            throw new RpcException(new Status(StatusCode.AlreadyExists, $"team.id: '{record.Id}' already exists."));
        }

        await store.CreateTeamAsync(record, cancellationToken).ConfigureAwait(false);
        await RecordAsync("create_team", record.Id, actor, cancellationToken).ConfigureAwait(false);
        return new CreateTeamResponse { Team = ToProto(record) };
    }

    public async Task<ListTeamsResponse> ListTeamsAsync(AdminActor actor, CancellationToken cancellationToken)
    {
        var response = new ListTeamsResponse();
        foreach (var team in await store.ListTeamsAsync(cancellationToken).ConfigureAwait(false))
        {
            response.Teams.Add(ToProto(team));
        }

        return response;
    }

    public async Task<UpdateTeamResponse> UpdateTeamAsync(UpdateTeamRequest request, AdminActor actor, CancellationToken cancellationToken)
    {
        var team = request.Team ?? throw Invalid("team: is required.");
        var existing = await store.GetTeamAsync(team.Id, cancellationToken).ConfigureAwait(false) ?? throw NotFound("team", team.Id);
        var record = ToRecord(team, existing.Id, existing.CreatedAt, timeProvider.GetUtcNow()) with { Name = string.IsNullOrWhiteSpace(team.Name) ? existing.Name : team.Name };
        await store.UpdateTeamAsync(record, cancellationToken).ConfigureAwait(false);
        authenticator.Invalidate();
        await RecordAsync("update_team", record.Id, actor, cancellationToken).ConfigureAwait(false);
        return new UpdateTeamResponse { Team = ToProto(record) };
    }

    public async Task<DeleteTeamResponse> DeleteTeamAsync(DeleteTeamRequest request, AdminActor actor, CancellationToken cancellationToken)
    {
        if ((await store.ListKeysAsync(request.Id, cancellationToken).ConfigureAwait(false)).Count > 0)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"team '{request.Id}' still has keys: revoke or move them first."));
        }

        if (!await store.DeleteTeamAsync(request.Id, cancellationToken).ConfigureAwait(false))
        {
            throw NotFound("team", request.Id);
        }

        await RecordAsync("delete_team", request.Id, actor, cancellationToken).ConfigureAwait(false);
        return new DeleteTeamResponse();
    }

    public async Task<CreateKeyResponse> CreateKeyAsync(CreateKeyRequest request, AdminActor actor, CancellationToken cancellationToken)
    {
        var key = request.Key ?? new Key();
        await CheckTeamAsync(key.TeamId, cancellationToken).ConfigureAwait(false);
        var (secret, prefix, hash) = ApiKeys.Generate();
        var now = timeProvider.GetUtcNow();
        var record = ToRecord(key, NewId("key"), prefix, hash, now, now);
        await store.CreateKeyAsync(record, cancellationToken).ConfigureAwait(false);
        await RecordAsync("create_key", record.Id, actor, cancellationToken).ConfigureAwait(false);
        return new CreateKeyResponse { Key = ToProto(record), Secret = secret };
    }

    public async Task<ListKeysResponse> ListKeysAsync(ListKeysRequest request, AdminActor actor, CancellationToken cancellationToken)
    {
        var response = new ListKeysResponse();
        foreach (var key in await store.ListKeysAsync(string.IsNullOrEmpty(request.TeamId) ? null : request.TeamId, cancellationToken).ConfigureAwait(false))
        {
            response.Keys.Add(ToProto(key));
        }

        return response;
    }

    public async Task<GetKeyResponse> GetKeyAsync(GetKeyRequest request, AdminActor actor, CancellationToken cancellationToken)
        => new() { Key = ToProto(await store.GetKeyAsync(request.Id, cancellationToken).ConfigureAwait(false) ?? throw NotFound("key", request.Id)) };

    public async Task<UpdateKeyResponse> UpdateKeyAsync(UpdateKeyRequest request, AdminActor actor, CancellationToken cancellationToken)
    {
        var key = request.Key ?? throw Invalid("key: is required.");
        var existing = await store.GetKeyAsync(key.Id, cancellationToken).ConfigureAwait(false) ?? throw NotFound("key", key.Id);
        await CheckTeamAsync(key.TeamId, cancellationToken).ConfigureAwait(false);
        var record = ToRecord(key, existing.Id, existing.Prefix, existing.Hash, existing.CreatedAt, timeProvider.GetUtcNow()) with { RevokedAt = existing.RevokedAt };
        await store.UpdateKeyAsync(record, cancellationToken).ConfigureAwait(false);
        authenticator.Invalidate();
        await RecordAsync("update_key", record.Id, actor, cancellationToken).ConfigureAwait(false);
        return new UpdateKeyResponse { Key = ToProto(record) };
    }

    public async Task<RotateKeyResponse> RotateKeyAsync(RotateKeyRequest request, AdminActor actor, CancellationToken cancellationToken)
    {
        var existing = await store.GetKeyAsync(request.Id, cancellationToken).ConfigureAwait(false) ?? throw NotFound("key", request.Id);
        if (existing.RevokedAt is not null)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"key '{request.Id}' is revoked and cannot be rotated."));
        }

        var (secret, prefix, hash) = ApiKeys.Generate();
        var record = existing with { Prefix = prefix, Hash = hash, UpdatedAt = timeProvider.GetUtcNow() };
        await store.UpdateKeyAsync(record, cancellationToken).ConfigureAwait(false);
        authenticator.Invalidate();
        await RecordAsync("rotate_key", record.Id, actor, cancellationToken).ConfigureAwait(false);
        return new RotateKeyResponse { Key = ToProto(record), Secret = secret };
    }

    public async Task<RevokeKeyResponse> RevokeKeyAsync(RevokeKeyRequest request, AdminActor actor, CancellationToken cancellationToken)
    {
        var existing = await store.GetKeyAsync(request.Id, cancellationToken).ConfigureAwait(false) ?? throw NotFound("key", request.Id);
        var now = timeProvider.GetUtcNow();
        var record = existing with { RevokedAt = existing.RevokedAt ?? now, UpdatedAt = now };
        await store.UpdateKeyAsync(record, cancellationToken).ConfigureAwait(false);
        authenticator.Invalidate();
        await RecordAsync("revoke_key", record.Id, actor, cancellationToken).ConfigureAwait(false);
        return new RevokeKeyResponse { Key = ToProto(record) };
    }

    public async Task<GetUsageResponse> GetUsageAsync(GetUsageRequest request, AdminActor actor, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var query = new UsageQuery
        {
            From = request.StartTime?.ToDateTimeOffset() ?? now.AddDays(-30),
            To = request.EndTime?.ToDateTimeOffset() ?? now.AddSeconds(1),
            KeyId = NullIfEmpty(request.KeyId),
            TeamId = NullIfEmpty(request.TeamId),
            Model = NullIfEmpty(request.Model),
            GroupBy = request.GroupBy.Where(g => g != UsageGroup.Unspecified).Select(g => g switch
            {
                UsageGroup.Key => UsageGrouping.Key,
                UsageGroup.Team => UsageGrouping.Team,
                UsageGroup.Model => UsageGrouping.Model,
                _ => UsageGrouping.Day,
            }).Distinct().ToArray(),
        };
        var response = new GetUsageResponse();
        foreach (var row in await store.QueryUsageAsync(query, cancellationToken).ConfigureAwait(false))
        {
            response.Rows.Add(new Admin.V1.UsageRow
            {
                KeyId = row.KeyId ?? "",
                TeamId = row.TeamId ?? "",
                Model = row.Model ?? "",
                Day = row.Day ?? "",
                Requests = row.Requests,
                InputTokens = row.InputTokens,
                OutputTokens = row.OutputTokens,
                CostUsd = (double)row.CostUsd,
                CacheHits = row.CacheHits,
                SavedCostUsd = (double)row.SavedCostUsd,
            });
        }

        return response;
    }

    private async Task CheckTeamAsync(string teamId, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrEmpty(teamId) && await store.GetTeamAsync(teamId, cancellationToken).ConfigureAwait(false) is null)
        {
            throw Invalid($"key.team_id: team '{teamId}' does not exist.");
        }
    }

    /// <summary>Logs an admin action and appends it to the hash-chained audit trail (never the key text).</summary>
    private async Task RecordAsync(string action, string id, AdminActor actor, CancellationToken cancellationToken)
    {
        Log.AdminAction(logger, action, id, actor.Who, actor.Via);
        // The record's actor is who did it: "master" or the admin-scoped key's id (never a secret).
        await audit.AppendAsync(action, actor.Who, new JsonObject { ["id"] = id, ["peer"] = actor.Peer, ["via"] = actor.Via }, cancellationToken).ConfigureAwait(false);
    }

    private static string? NullIfEmpty(string value) => string.IsNullOrEmpty(value) ? null : value;

    private static string NewId(string kind) => kind + "_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    private static RpcException NotFound(string kind, string id) => new(new Status(StatusCode.NotFound, $"{kind} '{id}' not found."));

    private static LimitSettings ToRecord(Limits? limits) => limits is null ? new LimitSettings() : new LimitSettings
    {
        RequestsPerMinute = limits.HasRequestsPerMinute ? Positive(limits.RequestsPerMinute, "requests_per_minute") : null,
        TokensPerMinute = limits.HasTokensPerMinute ? Positive(limits.TokensPerMinute, "tokens_per_minute") : null,
        MaxConcurrentRequests = limits.HasMaxConcurrentRequests ? Positive(limits.MaxConcurrentRequests, "max_concurrent_requests") : null,
        MaxTokensPerRequest = limits.HasMaxTokensPerRequest ? Positive(limits.MaxTokensPerRequest, "max_tokens_per_request") : null,
        MonthlyBudgetUsd = limits.HasMonthlyBudgetUsd ? (limits.MonthlyBudgetUsd >= 0 ? (decimal)limits.MonthlyBudgetUsd : throw Invalid("limits.monthly_budget_usd: must not be negative.")) : null,
        Algorithm = string.IsNullOrEmpty(limits.Algorithm) ? null : ValidAlgorithm(limits.Algorithm),
    };

    private static string ValidAlgorithm(string name)
    {
        try
        {
            GovernanceService.ParseAlgorithm(name);
            return name;
        }
        catch (ArgumentException)
        {
            throw Invalid($"limits.algorithm: '{name}' is not an algorithm (use gcra or sliding-window).");
        }
    }

    private static int Positive(int value, string field) => value > 0 ? value : throw Invalid($"limits.{field}: must be positive, got {value}.");

    private static Limits ToProto(LimitSettings limits)
    {
        var proto = new Limits { Algorithm = limits.Algorithm ?? "" };
        if (limits.RequestsPerMinute is { } rpm)
        {
            proto.RequestsPerMinute = rpm;
        }

        if (limits.TokensPerMinute is { } tpm)
        {
            proto.TokensPerMinute = tpm;
        }

        if (limits.MaxConcurrentRequests is { } concurrent)
        {
            proto.MaxConcurrentRequests = concurrent;
        }

        if (limits.MaxTokensPerRequest is { } maxTokens)
        {
            proto.MaxTokensPerRequest = maxTokens;
        }

        if (limits.MonthlyBudgetUsd is { } budget)
        {
            proto.MonthlyBudgetUsd = (double)budget;
        }

        return proto;
    }

    private static TeamRecord ToRecord(Team team, string id, DateTimeOffset created, DateTimeOffset updated) => new()
    {
        Id = id,
        Name = team.Name,
        AllowedModels = team.AllowedModels.ToArray(),
        Limits = ToRecord(team.Limits),
        Metadata = new Dictionary<string, string>(team.Metadata),
        LogBodies = team.LogBodies,
        CreatedAt = created,
        UpdatedAt = updated,
    };

    private static Team ToProto(TeamRecord team)
    {
        var proto = new Team
        {
            Id = team.Id,
            Name = team.Name,
            AllowedModels = { team.AllowedModels },
            Limits = ToProto(team.Limits),
            LogBodies = team.LogBodies,
            CreateTime = Timestamp.FromDateTimeOffset(team.CreatedAt),
            UpdateTime = Timestamp.FromDateTimeOffset(team.UpdatedAt),
        };
        foreach (var (k, v) in team.Metadata)
        {
            proto.Metadata[k] = v;
        }
        return proto;
    }

    private static KeyRecord ToRecord(Key key, string id, string prefix, string hash, DateTimeOffset created, DateTimeOffset updated) => new()
    {
        Id = id,
        Prefix = prefix,
        Hash = hash,
        TeamId = NullIfEmpty(key.TeamId),
        Name = key.Name,
        AllowedModels = key.AllowedModels.ToArray(),
        Limits = ToRecord(key.Limits),
        ExpiresAt = key.ExpireTime?.ToDateTimeOffset(),
        Metadata = new Dictionary<string, string>(key.Metadata),
        CreatedAt = created,
        UpdatedAt = updated,
    };

    private static Key ToProto(KeyRecord key)
    {
        var proto = new Key
        {
            Id = key.Id,
            Prefix = key.Prefix,
            TeamId = key.TeamId ?? "",
            Name = key.Name,
            AllowedModels = { key.AllowedModels },
            Limits = ToProto(key.Limits),
            CreateTime = Timestamp.FromDateTimeOffset(key.CreatedAt),
            UpdateTime = Timestamp.FromDateTimeOffset(key.UpdatedAt),
        };
        if (key.ExpiresAt is { } expires)
        {
            proto.ExpireTime = Timestamp.FromDateTimeOffset(expires);
        }

        if (key.RevokedAt is { } revoked)
        {
            proto.RevokeTime = Timestamp.FromDateTimeOffset(revoked);
        }

        foreach (var (k, v) in key.Metadata)
        {
            proto.Metadata[k] = v;
        }
        return proto;
    }

    private static partial class Log
    {
        [LoggerMessage(400, LogLevel.Information, "Admin action {Action} on {Id} by {Actor} via {Via}.", EventName = "AdminAction")]
        public static partial void AdminAction(ILogger logger, string action, string id, string actor, string via);
    }
}
