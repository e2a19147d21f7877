using Gateway.Grpc.Protocol;

namespace Gateway.Admin.V1;

/// <summary>Method descriptors of gateway.admin.v1.AdminService.</summary>
public static class AdminMethods
{
    public const string ServiceName = "gateway.admin.v1.AdminService";

    public static readonly Method<CreateTeamRequest, CreateTeamResponse> CreateTeam = new(
        MethodType.Unary, ServiceName, "CreateTeam", Marshallers.Protobuf(CreateTeamRequest.Parser), Marshallers.Protobuf(CreateTeamResponse.Parser));

    public static readonly Method<ListTeamsRequest, ListTeamsResponse> ListTeams = new(
        MethodType.Unary, ServiceName, "ListTeams", Marshallers.Protobuf(ListTeamsRequest.Parser), Marshallers.Protobuf(ListTeamsResponse.Parser));

    public static readonly Method<UpdateTeamRequest, UpdateTeamResponse> UpdateTeam = new(
        MethodType.Unary, ServiceName, "UpdateTeam", Marshallers.Protobuf(UpdateTeamRequest.Parser), Marshallers.Protobuf(UpdateTeamResponse.Parser));

    public static readonly Method<DeleteTeamRequest, DeleteTeamResponse> DeleteTeam = new(
        MethodType.Unary, ServiceName, "DeleteTeam", Marshallers.Protobuf(DeleteTeamRequest.Parser), Marshallers.Protobuf(DeleteTeamResponse.Parser));

    public static readonly Method<CreateKeyRequest, CreateKeyResponse> CreateKey = new(
        MethodType.Unary, ServiceName, "CreateKey", Marshallers.Protobuf(CreateKeyRequest.Parser), Marshallers.Protobuf(CreateKeyResponse.Parser));

    public static readonly Method<ListKeysRequest, ListKeysResponse> ListKeys = new(
        MethodType.Unary, ServiceName, "ListKeys", Marshallers.Protobuf(ListKeysRequest.Parser), Marshallers.Protobuf(ListKeysResponse.Parser));

    public static readonly Method<GetKeyRequest, GetKeyResponse> GetKey = new(
        MethodType.Unary, ServiceName, "GetKey", Marshallers.Protobuf(GetKeyRequest.Parser), Marshallers.Protobuf(GetKeyResponse.Parser));

    public static readonly Method<UpdateKeyRequest, UpdateKeyResponse> UpdateKey = new(
        MethodType.Unary, ServiceName, "UpdateKey", Marshallers.Protobuf(UpdateKeyRequest.Parser), Marshallers.Protobuf(UpdateKeyResponse.Parser));

    public static readonly Method<RotateKeyRequest, RotateKeyResponse> RotateKey = new(
        MethodType.Unary, ServiceName, "RotateKey", Marshallers.Protobuf(RotateKeyRequest.Parser), Marshallers.Protobuf(RotateKeyResponse.Parser));

    public static readonly Method<RevokeKeyRequest, RevokeKeyResponse> RevokeKey = new(
        MethodType.Unary, ServiceName, "RevokeKey", Marshallers.Protobuf(RevokeKeyRequest.Parser), Marshallers.Protobuf(RevokeKeyResponse.Parser));

    public static readonly Method<GetUsageRequest, GetUsageResponse> GetUsage = new(
        MethodType.Unary, ServiceName, "GetUsage", Marshallers.Protobuf(GetUsageRequest.Parser), Marshallers.Protobuf(GetUsageResponse.Parser));
}
