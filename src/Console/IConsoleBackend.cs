using Gateway.Admin.V1;
using Gateway.V1;

namespace Gateway.Grpc.Console;

/// <summary>Who did an admin action, for the audit trail: <c>master</c>, an admin-scoped key's id, and where from.</summary>
internal readonly record struct AdminActor(string Who, string Peer, string Via);

/// <summary>
/// What the console needs from the gateway host, which implements it (the console does not
/// reference the host). Key and team changes run the admin API's own operations, so they are
/// validated, cache-invalidated and written to the audit trail exactly as gateway.admin.v1 calls are;
/// failures are the admin API's <c>RpcException</c>s.
/// </summary>
internal interface IConsoleBackend
{
    Task<CreateTeamResponse> CreateTeamAsync(CreateTeamRequest request, AdminActor actor, CancellationToken cancellationToken);

    Task<ListTeamsResponse> ListTeamsAsync(AdminActor actor, CancellationToken cancellationToken);

    Task<UpdateTeamResponse> UpdateTeamAsync(UpdateTeamRequest request, AdminActor actor, CancellationToken cancellationToken);

    Task<CreateKeyResponse> CreateKeyAsync(CreateKeyRequest request, AdminActor actor, CancellationToken cancellationToken);

    Task<ListKeysResponse> ListKeysAsync(ListKeysRequest request, AdminActor actor, CancellationToken cancellationToken);

    Task<GetKeyResponse> GetKeyAsync(GetKeyRequest request, AdminActor actor, CancellationToken cancellationToken);

    Task<UpdateKeyResponse> UpdateKeyAsync(UpdateKeyRequest request, AdminActor actor, CancellationToken cancellationToken);

    Task<RotateKeyResponse> RotateKeyAsync(RotateKeyRequest request, AdminActor actor, CancellationToken cancellationToken);

    Task<RevokeKeyResponse> RevokeKeyAsync(RevokeKeyRequest request, AdminActor actor, CancellationToken cancellationToken);

    /// <summary>Every model group with its deployments and their circuit states.</summary>
    ListModelsResponse ListModels();
}
