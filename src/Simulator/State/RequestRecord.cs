namespace Gateway.Grpc.Simulator;

/// <summary>One request the simulator received (provider APIs and gRPC; not the admin API).</summary>
public sealed class RequestRecord
{
    private readonly Lock _gate = new();
    private readonly List<string> _faults = [];
    private DateTimeOffset? _endedAt;
    private int? _status;
    private int? _grpcStatus;
    private bool _aborted;
    private bool _disconnected;
    private string? _model;
    private bool _stream;
    private int? _servedInputTokens;
    private int? _servedOutputTokens;

    internal RequestRecord(long id, string api, string method, string path, IReadOnlyDictionary<string, string> headers, DateTimeOffset startedAt)
    {
        Id = id;
        Api = api;
        Method = method;
        Path = path;
        Headers = headers;
        StartedAt = startedAt;
        Body = "";
    }

    /// <summary>Sequence number from 1; also sent back in the <c>x-sim-request-id</c> response header.</summary>
    public long Id { get; }

    /// <summary>openai, azure, anthropic, gemini or grpc.</summary>
    public string Api { get; }

    public string Method { get; }

    /// <summary>Path and query (the <c>key</c> query parameter redacted); gRPC: <c>/package.Service/Method</c>.</summary>
    public string Path { get; }

    /// <summary>Request headers with credential values replaced by <c>[redacted]</c>.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    /// <summary>The raw request body (UTF-8); gRPC: the request message as JSON.</summary>
    public string Body { get; internal set; }

    public DateTimeOffset StartedAt { get; }

    public string? Model
    {
        get { lock (_gate) { return _model; } }
        internal set { lock (_gate) { _model = value; } }
    }

    public bool Stream
    {
        get { lock (_gate) { return _stream; } }
        internal set { lock (_gate) { _stream = value; } }
    }

    /// <summary>When the simulator finished with the request (null while it runs).</summary>
    public DateTimeOffset? EndedAt { get { lock (_gate) { return _endedAt; } } }

    /// <summary>HTTP status sent (null if none was sent).</summary>
    public int? Status { get { lock (_gate) { return _status; } } }

    /// <summary>gRPC status code the call ended with (gRPC only; null when the connection was cut).</summary>
    public int? GrpcStatus { get { lock (_gate) { return _grpcStatus; } } }

    /// <summary>True when the client went away (RequestAborted fired) before the simulator finished.</summary>
    public bool Aborted { get { lock (_gate) { return _aborted; } } }

    /// <summary>True when the simulator cut the connection itself (<c>x-sim-disconnect-after</c>).</summary>
    public bool Disconnected { get { lock (_gate) { return _disconnected; } } }

    /// <summary>Faults applied, e.g. <c>status:503</c>, <c>latency:200</c>, <c>disconnect:3</c>, <c>hang</c>.</summary>
    public IReadOnlyList<string> Faults { get { lock (_gate) { return _faults.ToArray(); } } }

    public bool Completed { get { lock (_gate) { return _endedAt is not null; } } }

    /// <summary>
    /// Prompt tokens of the completion this request was served whole (the usage the simulator
    /// reports for it); null when no whole answer went out (an error, a fault, a client gone).
    /// </summary>
    public int? ServedInputTokens { get { lock (_gate) { return _servedInputTokens; } } }

    /// <summary>Output tokens of the completion this request was served whole; null as for <see cref="ServedInputTokens"/>.</summary>
    public int? ServedOutputTokens { get { lock (_gate) { return _servedOutputTokens; } } }

    internal void Served(int inputTokens, int outputTokens)
    {
        lock (_gate)
        {
            _servedInputTokens = inputTokens;
            _servedOutputTokens = outputTokens;
        }
    }

    internal void AddFault(string fault)
    {
        lock (_gate)
        {
            _faults.Add(fault);
        }
    }

    internal void MarkDisconnected()
    {
        lock (_gate)
        {
            _disconnected = true;
        }
    }

    internal bool IsDisconnected()
    {
        lock (_gate)
        {
            return _disconnected;
        }
    }

    internal void End(DateTimeOffset endedAt, int? status, int? grpcStatus, bool aborted)
    {
        lock (_gate)
        {
            _endedAt ??= endedAt;
            _status = status;
            _grpcStatus = grpcStatus;
            _aborted = aborted && !_disconnected;
        }
    }

    public override string ToString() => $"#{Id} {Api} {Method} {Path} model={Model} stream={Stream} status={Status} aborted={Aborted}";
}
