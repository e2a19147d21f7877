using Gateway.Admin.V1;
using Gateway.Grpc.Console;
using Gateway.Grpc.Governance;
using Gateway.Grpc.Server.Pipeline;
using Grpc.Core;

namespace Gateway.Grpc.Server.Services;

/// <summary>gateway.admin.v1.AdminService (gRPC, gRPC-Web, and JSON transcoding under /v1/admin): teams, keys and usage, behind the master key or an admin-scoped key.</summary>
internal sealed class AdminGrpcService(GovernanceService governance, AdminOperations operations) : AdminService.AdminServiceBase
{
    public override Task<CreateTeamResponse> CreateTeam(CreateTeamRequest request, ServerCallContext context)
        => Guarded(context, actor => operations.CreateTeamAsync(request, actor, context.CancellationToken));

    public override Task<ListTeamsResponse> ListTeams(ListTeamsRequest request, ServerCallContext context)
        => Guarded(context, actor => operations.ListTeamsAsync(actor, context.CancellationToken));

    public override Task<UpdateTeamResponse> UpdateTeam(UpdateTeamRequest request, ServerCallContext context)
        => Guarded(context, actor => operations.UpdateTeamAsync(request, actor, context.CancellationToken));

    public override Task<DeleteTeamResponse> DeleteTeam(DeleteTeamRequest request, ServerCallContext context)
        => Guarded(context, actor => operations.DeleteTeamAsync(request, actor, context.CancellationToken));

    public override Task<CreateKeyResponse> CreateKey(CreateKeyRequest request, ServerCallContext context)
        => Guarded(context, actor => operations.CreateKeyAsync(request, actor, context.CancellationToken));

    public override Task<ListKeysResponse> ListKeys(ListKeysRequest request, ServerCallContext context)
        => Guarded(context, actor => operations.ListKeysAsync(request, actor, context.CancellationToken));

    public override Task<GetKeyResponse> GetKey(GetKeyRequest request, ServerCallContext context)
        => Guarded(context, actor => operations.GetKeyAsync(request, actor, context.CancellationToken));

    public override Task<UpdateKeyResponse> UpdateKey(UpdateKeyRequest request, ServerCallContext context)
        => Guarded(context, actor => operations.UpdateKeyAsync(request, actor, context.CancellationToken));

    public override Task<RotateKeyResponse> RotateKey(RotateKeyRequest request, ServerCallContext context)
        => Guarded(context, actor => operations.RotateKeyAsync(request, actor, context.CancellationToken));

    public override Task<RevokeKeyResponse> RevokeKey(RevokeKeyRequest request, ServerCallContext context)
        => Guarded(context, actor => operations.RevokeKeyAsync(request, actor, context.CancellationToken));

    public override Task<GetUsageResponse> GetUsage(GetUsageRequest request, ServerCallContext context)
        => Guarded(context, actor => operations.GetUsageAsync(request, actor, context.CancellationToken));

    private async Task<T> Guarded<T>(ServerCallContext context, Func<AdminActor, Task<T>> action)
    {
        if (governance.Settings.MasterKey() is not { Length: > 0 })
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "The admin API is disabled: set auth.masterKey (a secret reference such as env:GATEWAY_MASTER_KEY) to enable it."));
        }

        var principal = await governance.AuthenticateAsync(CallerHeaders.ApiKey(context.GetHttpContext().Request), context.CancellationToken).ConfigureAwait(false);
        if (!principal.IsAdmin)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "The admin API needs the master key or an admin-scoped key."));
        }

        return await action(new AdminActor(principal.Key?.Id ?? "master", context.Peer, "admin-api")).ConfigureAwait(false);
    }
}
