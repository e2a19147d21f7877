using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Grpc.Redis.Internal;

namespace Gateway.Grpc.Redis.Tests.Infrastructure;

/// <summary>
/// A scripted in-process TCP peer for what a real Redis never does: malformed bytes, replies one byte per
/// write, silence. Commands are parsed with the client's own RESP parser (a command is a RESP array).
/// </summary>
internal sealed class FakeRedisServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<FakeClient, string[], Task> _onCommand;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<FakeClient> _clients = [];
    private readonly Task _acceptLoop;

    public FakeRedisServer(Func<FakeClient, string[], Task> onCommand)
    {
        _onCommand = onCommand;
        _listener.Start();
        _acceptLoop = AcceptAsync();
    }

    public string Endpoint => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Answers the handshake's PING; everything else goes to <paramref name="onCommand"/>.</summary>
    public static FakeRedisServer WithHandshake(Func<FakeClient, string[], Task> onCommand)
        => new((client, command) => command[0] == "PING" && client.CommandCount == 1 ? client.SendAsync("+PONG\r\n") : onCommand(client, command));

    /// <summary>When set, the server stops reading after the handshake until it completes (fills the client's socket buffers).</summary>
    public TaskCompletionSource? ReadGate { get; set; }

    public FakeClient[] Clients
    {
        get
        {
            lock (_clients)
            {
                return [.. _clients];
            }
        }
    }

    public int ConnectionCount
    {
        get
        {
            lock (_clients)
            {
                return _clients.Count;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        lock (_clients)
        {
            foreach (var client in _clients)
            {
                client.Abort();
            }
        }

        try
        {
            await _acceptLoop;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var socket = await _listener.AcceptSocketAsync(_stop.Token);
            socket.NoDelay = true;
            var client = new FakeClient(socket);
            lock (_clients)
            {
                _clients.Add(client);
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(FakeClient client)
    {
        var reader = PipeReader.Create(client.Stream);
        try
        {
            while (true)
            {
                if (client.CommandCount >= 1 && ReadGate is { } gate)
                {
                    await gate.Task;
                }

                var read = await reader.ReadAsync();
                var buffer = read.Buffer;
                var commands = new List<string[]>();
                while (RespParser.TryRead(ref buffer, out var request))
                {
                    commands.Add(Array.ConvertAll(request!.AsArray()!, static part => part.AsString()!));
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
                foreach (var command in commands)
                {
                    client.CommandCount++;
                    client.Received.Enqueue(command);
                    await _onCommand(client, command);
                }

                if (read.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException)
        {
        }
    }
}

internal sealed class FakeClient(Socket socket)
{
    public NetworkStream Stream { get; } = new(socket, ownsSocket: true);

    public int CommandCount { get; set; }

    public System.Collections.Concurrent.ConcurrentQueue<string[]> Received { get; } = new();

    public async Task SendAsync(string raw)
    {
        await Stream.WriteAsync(Encoding.UTF8.GetBytes(raw));
        await Stream.FlushAsync();
    }

    /// <summary>One write (one TCP segment with Nagle off) per byte.</summary>
    public async Task SendOneByteAtATimeAsync(string raw)
    {
        foreach (var b in Encoding.UTF8.GetBytes(raw))
        {
            await Stream.WriteAsync(new[] { b });
            await Stream.FlushAsync();
        }
    }

    public void Abort() => Stream.Dispose();
}
