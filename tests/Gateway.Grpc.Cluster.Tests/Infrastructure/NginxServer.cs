using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Gateway.Grpc.Cluster.Tests.Infrastructure;

/// <summary>
/// nginx as the load balancer in front of the replicas, run as the test user: its own prefix,
/// configuration, pid file, logs and temp paths in a temp directory, listening on free loopback
/// ports (gRPC over h2c with grpc_pass, HTTP with proxy_pass), stopped by the test. A replica
/// that refuses connections is skipped (next upstream); one that dies with a call in flight turns
/// that call into 502, which gRPC clients see as UNAVAILABLE.
/// </summary>
internal sealed class NginxServer : IAsyncDisposable
{
    private static readonly string[] Candidates = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"];
    private readonly string _directory;
    private readonly StringBuilder _output = new();
    private Process? _process;

    private NginxServer(string directory, int grpcPort, int httpPort)
    {
        _directory = directory;
        GrpcPort = grpcPort;
        HttpPort = httpPort;
    }

    public int GrpcPort { get; }

    public int HttpPort { get; }

    public Uri GrpcAddress => new("http://127.0.0.1:" + GrpcPort.ToString(CultureInfo.InvariantCulture));

    public Uri HttpAddress => new("http://127.0.0.1:" + HttpPort.ToString(CultureInfo.InvariantCulture));

    public string ErrorLog => File.Exists(Path.Combine(_directory, "error.log")) ? File.ReadAllText(Path.Combine(_directory, "error.log")) : "";

    /// <summary>Starts nginx balancing over the replicas' (gRPC port, HTTP port) pairs; returns once both ports accept connections.</summary>
    public static async Task<NginxServer> StartAsync(IReadOnlyList<(int Grpc, int Http)> replicas)
    {
        var binary = Candidates.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("nginx is not installed, and the cluster test balances the replicas with it. Install it with 'sudo apt-get install -y nginx-light' (or run scripts/deps/cluster.sh), then rerun.");
        var directory = Directory.CreateTempSubdirectory("gw-nginx-").FullName;
        var ports = Gateway.Grpc.TestSupport.LoopbackPort.Reserve(2);
        var server = new NginxServer(directory, ports[0], ports[1]);
        await File.WriteAllTextAsync(Path.Combine(directory, "nginx.conf"), server.Config(replicas));
        var info = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory,
        };
        // -e: the error log before the configuration is read (the packaged default is /var/log/nginx).
        foreach (var arg in new[] { "-p", directory + "/", "-c", Path.Combine(directory, "nginx.conf"), "-e", Path.Combine(directory, "error.log") })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        server._process = process;
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (!(Accepts(server.GrpcPort) && Accepts(server.HttpPort)))
            {
                if (process.HasExited || DateTime.UtcNow > deadline)
                {
                    throw new InvalidOperationException($"nginx did not start (exited: {process.HasExited}):\n{server.Output}\n{server.ErrorLog}");
                }

                await Task.Delay(50);
            }
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    private string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    private string Config(IReadOnlyList<(int Grpc, int Http)> replicas)
    {
        var grpcServers = string.Concat(replicas.Select(r => $"        server 127.0.0.1:{r.Grpc} max_fails=1 fail_timeout=5s;\n"));
        var httpServers = string.Concat(replicas.Select(r => $"        server 127.0.0.1:{r.Http} max_fails=1 fail_timeout=5s;\n"));
        var d = _directory;
        // Started by root (CI), nginx would hand its workers to "nobody", which cannot write to this
        // private temp directory: keep every process the test user, as it is otherwise.
        var user = Environment.UserName == "root" ? "user root;" : "";
        return $$"""
            {{user}}
            daemon off;
            master_process on;
            worker_processes 1;
            pid {{d}}/nginx.pid;
            error_log {{d}}/error.log warn;
            events { worker_connections 2048; }
            http {
                access_log off;
                client_body_temp_path {{d}}/client_body;
                proxy_temp_path {{d}}/proxy;
                fastcgi_temp_path {{d}}/fastcgi;
                uwsgi_temp_path {{d}}/uwsgi;
                scgi_temp_path {{d}}/scgi;
                upstream gateway_grpc {
            {{grpcServers}}        keepalive 32;
                }
                upstream gateway_http {
            {{httpServers}}        keepalive 32;
                }
                server {
                    listen 127.0.0.1:{{GrpcPort}} http2;
                    http2_max_concurrent_streams 1000;
                    location / {
                        grpc_pass grpc://gateway_grpc;
                        grpc_next_upstream error timeout;
                        grpc_connect_timeout 2s;
                        grpc_read_timeout 120s;
                        grpc_send_timeout 120s;
                    }
                }
                server {
                    listen 127.0.0.1:{{HttpPort}};
                    location / {
                        proxy_pass http://gateway_http;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_next_upstream error timeout;
                        proxy_connect_timeout 2s;
                    }
                }
            }

            """;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    private static bool Accepts(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            if (!process.HasExited)
            {
                // SIGQUIT would drain gracefully; SIGTERM stops at once, which is what a test wants.
                using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", process.Id.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
                await kill.WaitForExitAsync();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                }
            }

            process.Dispose();
            _process = null;
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
