namespace Gateway.Grpc.Protocol;

/// <summary>The outcome of a call: a code and a human-readable detail.</summary>
public readonly record struct Status(StatusCode StatusCode, string Detail)
{
    public static readonly Status DefaultSuccess = new(StatusCode.OK, "");

    public static readonly Status DefaultCancelled = new(StatusCode.Cancelled, "");

    public override string ToString() => $"Status(StatusCode=\"{StatusCode}\", Detail=\"{Detail}\")";
}
