namespace Gateway.Grpc.Server.Dispatch;

/// <summary>The names of the deployment-selection strategies a model group can use.</summary>
public static class RoutingStrategies
{
    public const string Weighted = "weighted";
    public const string RoundRobin = "round-robin";
    public const string LeastInFlight = "least-in-flight";
    public const string LowestLatency = "lowest-latency";
    public const string LowestCost = "lowest-cost";

    public static IReadOnlyList<string> All { get; } = [Weighted, RoundRobin, LeastInFlight, LowestLatency, LowestCost];

    public static bool IsKnown(string name) => All.Contains(name, StringComparer.OrdinalIgnoreCase);
}
