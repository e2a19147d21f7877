using Gateway.Grpc.Adapters;

namespace Gateway.Grpc.Server.Dispatch;

/// <summary>
/// Picks a deployment of a group by the group's strategy. Skips open circuits, deployments whose
/// context window is smaller than the call needs or that lack a capability it needs, and, while
/// others remain, deployments that already failed this call or are already running it.
/// </summary>
internal static class RouteSelector
{
    public static DeploymentRuntime? Choose(ModelGroup group, CallState state, IReadOnlyCollection<DeploymentRuntime>? running = null)
    {
        if (state.Request.Routing is { Deployment.Length: > 0 } pinned)
        {
            var d = group.Find(pinned.Deployment);
            return d is not null && d.IsAvailable && (running is null || !running.Contains(d)) && d.Serves(state.Needs, state.Request.MaxTokens) ? d : null;
        }

        var deployments = group.Deployments;
        Span<int> candidates = stackalloc int[deployments.Length];
        var count = Collect(deployments, state, running, candidates, skipFailed: true);
        if (count == 0 && running is null)
        {
            // Everything healthy already failed this call: a retry may go back to one of them.
            count = Collect(deployments, state, running, candidates, skipFailed: false);
        }

        if (count == 0)
        {
            return null;
        }

        candidates = candidates[..count];
        var offset = (int)((uint)group.NextRoundRobin() % (uint)count);
        return group.Strategy switch
        {
            RoutingStrategies.Weighted => Weighted(deployments, candidates),
            // Scores take their argument as a parameter, not a capture: a lambda capturing `state`
            // would make its closure on every call, whatever the strategy.
            RoutingStrategies.LeastInFlight => Min(deployments, candidates, offset, 0, static (d, _) => d.InFlight),
            RoutingStrategies.LowestLatency => Min(deployments, candidates, offset, 0, static (d, _) => double.IsNaN(d.LatencyScoreMs) ? -1 : d.LatencyScoreMs),
            RoutingStrategies.LowestCost => Min(deployments, candidates, offset, CallTokens(state), static (d, tokens) => EstimatedCost(d, tokens)),
            _ => deployments[candidates[offset]],
        };
    }

    private static int Collect(DeploymentRuntime[] deployments, CallState state, IReadOnlyCollection<DeploymentRuntime>? running, Span<int> candidates, bool skipFailed)
    {
        var count = 0;
        for (var i = 0; i < deployments.Length; i++)
        {
            var d = deployments[i];
            if (!d.IsAvailable || (skipFailed && state.HasFailed(d)) || (running is not null && running.Contains(d)) || !Fits(d, state))
            {
                continue;
            }

            candidates[count++] = i;
        }

        return count;
    }

    /// <summary>False for a deployment whose known context window is smaller than the call needs.</summary>
    private static bool Fits(DeploymentRuntime d, CallState state)
        => (state.ContextTokens == 0 || d.ContextWindow == 0 || d.ContextWindow >= state.ContextTokens)
            && (state.Needs == Routing.Capability.None || d.Serves(state.Needs, state.Request.MaxTokens));

    private static DeploymentRuntime Weighted(DeploymentRuntime[] deployments, ReadOnlySpan<int> candidates)
    {
        var total = 0;
        foreach (var i in candidates)
        {
            total += Math.Max(0, deployments[i].Weight);
        }

        if (total == 0)
        {
            return deployments[candidates[Random.Shared.Next(candidates.Length)]];
        }

        var pick = Random.Shared.Next(total);
        foreach (var i in candidates)
        {
            pick -= Math.Max(0, deployments[i].Weight);
            if (pick < 0)
            {
                return deployments[i];
            }
        }

        return deployments[candidates[^1]];
    }

    /// <summary>Lowest score wins; ties go round-robin from <paramref name="offset"/>.</summary>
    private static DeploymentRuntime Min<TArg>(DeploymentRuntime[] deployments, ReadOnlySpan<int> candidates, int offset, TArg arg, Func<DeploymentRuntime, TArg, double> score)
    {
        DeploymentRuntime? best = null;
        var bestScore = double.MaxValue;
        for (var k = 0; k < candidates.Length; k++)
        {
            var d = deployments[candidates[(offset + k) % candidates.Length]];
            var s = score(d, arg);
            if (best is null || s < bestScore)
            {
                best = d;
                bestScore = s;
            }
        }

        return best!;
    }

    /// <summary>The call's prompt tokens (estimated) and the output it may ask for (max_tokens, else 256).</summary>
    private static (long Input, long Output) CallTokens(CallState state)
        => (TokenEstimator.CountPrompt(state.Request), state.Request.HasMaxTokens ? state.Request.MaxTokens : 256);

    private static double EstimatedCost(DeploymentRuntime d, (long Input, long Output) tokens)
        => ((d.InputCostPerMillion * tokens.Input) + (d.OutputCostPerMillion * tokens.Output)) / 1_000_000.0;
}
