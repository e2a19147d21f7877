using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Gateway.Grpc.TestSupport;

/// <summary>
/// A loopback port for a server a test starts as its own process (the gateway, redis-server,
/// PostgreSQL, nginx, Prometheus), which is told the port on its command line.
/// </summary>
/// <remarks>
/// The port is found free here and bound later by the other process. A port the kernel hands out
/// for <c>bind(0)</c> comes from the ephemeral range, the same range every outgoing connection of
/// the parallel test assemblies takes its local port from; one of those can take it in between,
/// and the server then fails with "address already in use" (seen in CI). So the port is picked
/// at random below the ephemeral range (<c>/proc/sys/net/ipv4/ip_local_port_range</c>), where
/// the kernel never allocates on its own, and checked by binding it once. A port is handed out
/// once per test process: two tests of one assembly starting servers at the same moment cannot
/// both be given it while neither server has bound it yet.
/// </remarks>
internal static class LoopbackPort
{
    private const int Lowest = 10000;

    private static readonly int Highest = EphemeralLow() - 1;

    private static readonly ConcurrentDictionary<int, byte> HandedOut = new();

    /// <summary>A port nothing listens on now, outside the kernel's ephemeral range.</summary>
    public static int Reserve()
    {
        for (var attempt = 0; Highest - Lowest >= 1000 && attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(Lowest, Highest + 1);
            if (!HandedOut.ContainsKey(port) && IsFree(port) && HandedOut.TryAdd(port, 0))
            {
                return port;
            }
        }

        // No room below the range, or nearly every port there is taken: the kernel's choice.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary><paramref name="count"/> distinct ports, as <see cref="Reserve"/> picks them.</summary>
    public static int[] Reserve(int count)
    {
        var ports = new HashSet<int>();
        while (ports.Count < count)
        {
            ports.Add(Reserve());
        }

        return [.. ports];
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int EphemeralLow()
    {
        try
        {
            var fields = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(fields[0], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32768;
        }
    }
}
