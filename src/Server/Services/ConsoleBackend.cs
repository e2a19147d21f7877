using Gateway.Admin.V1;
using Gateway.Grpc.Console;
using Gateway.V1;

namespace Gateway.Grpc.Server.Services;

/// <summary>The web console's view of the gateway: the admin API's own operations and the model list with circuit states.</summary>
internal sealed class ConsoleBackend(AdminOperations admin, ModelsQuery models) : IConsoleBackend
{
    public Task<CreateTeamResponse> CreateTeamAsync(CreateTeamRequest request, AdminActor actor, CancellationToken cancellationToken) => admin.CreateTeamAsync(request, actor, cancellationToken);

    public Task<ListTeamsResponse> ListTeamsAsync(AdminActor actor, CancellationToken cancellationToken) => admin.ListTeamsAsync(actor, cancellationToken);

    public Task<UpdateTeamResponse> UpdateTeamAsync(UpdateTeamRequest request, AdminActor actor, CancellationToken cancellationToken) => admin.UpdateTeamAsync(request, actor, cancellationToken);

    public Task<CreateKeyResponse> CreateKeyAsync(CreateKeyRequest request, AdminActor actor, CancellationToken cancellationToken) => admin.CreateKeyAsync(request, actor, cancellationToken);

    public Task<ListKeysResponse> ListKeysAsync(ListKeysRequest request, AdminActor actor, CancellationToken cancellationToken) => admin.ListKeysAsync(request, actor, cancellationToken);

    public Task<GetKeyResponse> GetKeyAsync(GetKeyRequest request, AdminActor actor, CancellationToken cancellationToken) => admin.GetKeyAsync(request, actor, cancellationToken);

    public Task<UpdateKeyResponse> UpdateKeyAsync(UpdateKeyRequest request, AdminActor actor, CancellationToken cancellationToken) => admin.UpdateKeyAsync(request, actor, cancellationToken);

    public Task<RotateKeyResponse> RotateKeyAsync(RotateKeyRequest request, AdminActor actor, CancellationToken cancellationToken) => admin.RotateKeyAsync(request, actor, cancellationToken);

    public Task<RevokeKeyResponse> RevokeKeyAsync(RevokeKeyRequest request, AdminActor actor, CancellationToken cancellationToken) => admin.RevokeKeyAsync(request, actor, cancellationToken);

    public ListModelsResponse ListModels() => models.List();
}
