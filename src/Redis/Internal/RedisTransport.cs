using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace Gateway.Grpc.Redis.Internal;

/// <summary>
/// One TCP connection to Redis with its pipes, after a successful handshake
/// (AUTH, SELECT, CLIENT SETNAME, PING, pipelined in one write).
/// </summary>
internal sealed class RedisTransport : IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private int _disposed;

    private RedisTransport(Socket socket, string endpoint)
    {
        _socket = socket;
        Endpoint = endpoint;
        _stream = new NetworkStream(socket, ownsSocket: true);
        Reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4096, leaveOpen: true));
        Writer = PipeWriter.Create(_stream, new StreamPipeWriterOptions(minimumBufferSize: 16 * 1024, leaveOpen: true));
    }

    public string Endpoint { get; }

    public PipeReader Reader { get; }

    public PipeWriter Writer { get; }

    /// <summary>Connects and performs the handshake within <see cref="RedisOptions.ConnectTimeout"/>.</summary>
    /// <exception cref="RedisConnectionException">Connect, authentication or database selection failed; the message says which and how to fix it.</exception>
    public static async Task<RedisTransport> ConnectAsync(RedisOptions options, RedisConnectionKind kind, CancellationToken cancellationToken)
    {
        if (!EndpointParser.TryParse(options.Endpoint, out var host, out var port, out var endpointError))
        {
            throw new RedisConnectionException($"RedisOptions.Endpoint {endpointError}");
        }

        var endpoint = options.Endpoint;
        using var timeout = new CancellationTokenSource(options.ConnectTimeout, options.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        Socket? socket = null;
        RedisTransport? transport = null;
        try
        {
            var addresses = IPAddress.TryParse(host, out var address)
                ? [address]
                : await Dns.GetHostAddressesAsync(host, linked.Token).ConfigureAwait(false);
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            ConfigureKeepAlive(socket);
            await socket.ConnectAsync(addresses, port, linked.Token).ConfigureAwait(false);
            transport = new RedisTransport(socket, endpoint);
            socket = null;
            await transport.HandshakeAsync(options, kind, linked.Token).ConfigureAwait(false);
            return transport;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            transport?.Dispose();
            socket?.Dispose();
            throw new RedisConnectionException(
                $"Could not connect to Redis at {endpoint} within {options.ConnectTimeout.TotalMilliseconds:0} ms (RedisOptions.ConnectTimeout).");
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            transport?.Dispose();
            socket?.Dispose();
            throw new RedisConnectionException($"Could not connect to Redis at {endpoint}: {ex.Message}", ex);
        }
        catch
        {
            transport?.Dispose();
            socket?.Dispose();
            throw;
        }
    }

    /// <summary>Closes the socket; pending reads and writes fail. Idempotent and thread-safe.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed by the peer.
        }

        // The pipes are completed by the loops that use them (a PipeReader is not safe to complete concurrently
        // with a read); disposing the stream makes their pending reads and flushes fail.
        _stream.Dispose();
    }

    /// <summary>Reads one reply (handshake only; the connections run their own read loops afterwards).</summary>
    private async ValueTask<RedisResult> ReadReplyAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var read = await Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = read.Buffer;
            RedisResult? reply = null;
            try
            {
                if (RespParser.TryRead(ref buffer, out reply))
                {
                    return reply!;
                }

                if (read.IsCompleted)
                {
                    throw new RedisConnectionException($"Redis at {Endpoint} closed the connection during the handshake.");
                }
            }
            finally
            {
                Reader.AdvanceTo(buffer.Start, reply is null ? buffer.End : buffer.Start);
            }
        }
    }

    private async Task HandshakeAsync(RedisOptions options, RedisConnectionKind kind, CancellationToken cancellationToken)
    {
        var steps = new List<string>(4);
        if (options.Password is not null)
        {
            var password = await SecretResolver.ResolveAsync(options.Password, "RedisOptions.Password", cancellationToken).ConfigureAwait(false);
            RespWriter.WriteStrings(Writer, "AUTH", options.User is null ? [password] : [options.User, password]);
            steps.Add("AUTH");
        }

        if (kind == RedisConnectionKind.Interactive && options.Database != 0)
        {
            RespWriter.WriteStrings(Writer, "SELECT", [options.Database.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            steps.Add("SELECT");
        }

        if (options.ClientName is not null)
        {
            var name = kind == RedisConnectionKind.Interactive ? options.ClientName : options.ClientName + "-sub";
            RespWriter.WriteStrings(Writer, "CLIENT", ["SETNAME", name]);
            steps.Add("CLIENT SETNAME");
        }

        RespWriter.WriteStrings(Writer, "PING", Array.Empty<string>());
        steps.Add("PING");
        await Writer.FlushAsync(cancellationToken).ConfigureAwait(false);

        RedisConnectionException? failure = null;
        foreach (var step in steps)
        {
            var reply = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
            if (reply.Type != RedisResultType.Error || failure is not null)
            {
                continue;
            }

            var error = new RedisServerException(reply.AsString()!);
            failure = step switch
            {
                "AUTH" => new RedisConnectionException(
                    $"Redis at {Endpoint} rejected AUTH{(options.User is null ? string.Empty : $" for user '{options.User}'")}: {error.Message} Check the secret that RedisOptions.Password ({options.Password}) refers to.",
                    error),
                "SELECT" => new RedisConnectionException(
                    $"Redis at {Endpoint} rejected RedisOptions.Database {options.Database}: {error.Message}", error),
                "PING" when error.ErrorCode == "NOAUTH" => new RedisConnectionException(
                    $"Redis at {Endpoint} requires authentication ({error.Message}); set RedisOptions.Password to a secret reference such as env:REDIS_PASSWORD.",
                    error),
                _ => new RedisConnectionException($"Redis at {Endpoint} rejected {step} during the handshake: {error.Message}", error),
            };
        }

        if (failure is not null)
        {
            throw failure;
        }
    }

    private static void ConfigureKeepAlive(Socket socket)
    {
        // Detects a half-open connection (peer host gone without FIN/RST) in ~30 s instead of the OS default of hours.
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 15);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 5);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
        }
        catch (Exception ex) when (ex is SocketException or PlatformNotSupportedException)
        {
            // Keep-alive tuning is best effort.
        }
    }
}
