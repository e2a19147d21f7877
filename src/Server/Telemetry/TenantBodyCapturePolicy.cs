using System.Collections.Concurrent;
using Gateway.Grpc.Governance.Keys;
using Gateway.Grpc.Observability.AccessLog;

namespace Gateway.Grpc.Server.Telemetry;

/// <summary>
/// Prompt and completion text are logged only when configuration says so for everyone
/// (<c>accessLog:includeBodies</c>, <c>audit:requestBodies</c>) or the caller's team opted in
/// (<c>log_bodies</c> on the team, set through the admin API). Authentication records each
/// team's choice before the per-call decision is taken.
/// </summary>
internal sealed class TenantBodyCapturePolicy(BodyCapture configured) : IBodyCapturePolicy
{
    private readonly ConcurrentDictionary<string, bool> _teams = new(StringComparer.Ordinal);

    public void Observe(Principal principal)
    {
        if (principal.Team is { } team)
        {
            _teams[team.Id] = team.LogBodies;
        }
    }

    public BodyCapture Decide(in BodyCaptureContext context)
        => context.Team is { } team && _teams.TryGetValue(team, out var optedIn) && optedIn
            ? configured | BodyCapture.AccessLog
            : configured;
}
