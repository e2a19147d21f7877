using System.Globalization;
using System.Text;
using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Server;
using Gateway.Grpc.Server.Configuration;
using Google.Api;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace Gateway.Grpc.Server.Rest;

/// <summary>
/// Generic HTTP+JSON transcoding of the mapped gRPC services, driven by their
/// <c>google.api.http</c> annotations (read from the generated file descriptors at start-up).
/// Adding an annotated RPC to a mapped service is all it takes to serve it as JSON.
/// </summary>
internal static class JsonTranscodingExtensions
{
    /// <summary>
    /// Maps every annotated method of every service mapped so far (call after MapGrpcService).
    /// Unary methods answer one JSON object; server-streaming methods answer newline-delimited
    /// JSON (application/x-ndjson), one message per line. Errors are google.rpc.Status JSON
    /// (<c>{"code","message","details"}</c>) with the HTTP status of <see cref="RestErrorMapping"/>.
    /// A rule that cannot be served fails start-up with the method and the reason.
    /// </summary>
    public static WebApplication MapJsonTranscoding(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var services = app.Services;
        var registry = services.GetRequiredService<GrpcServiceRegistry>();
        var context = new TranscodingContext(
            services.GetRequiredService<TimeProvider>(),
            (long)services.GetRequiredService<GatewayOptions>().MaxReceiveMessageSize * 4,
            services.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Grpc.Server.Rest.JsonTranscoding"));
        foreach (var route in JsonTranscodingBinder.Collect(registry, context))
        {
            app.MapMethods(route.Template, [route.HttpMethod], route.Handler)
                .WithDisplayName($"{route.HttpMethod} {route.Template} -> {route.MethodFullName}");
        }

        return app;
    }
}

/// <summary>What every transcoded endpoint shares.</summary>
internal sealed record TranscodingContext(TimeProvider TimeProvider, long MaxBodyBytes, ILogger Logger);

/// <summary>One HTTP route to one RPC.</summary>
internal sealed record TranscodedRoute(string HttpMethod, string Template, string MethodFullName, RequestDelegate Handler);

/// <summary>Reads the http rules of each bound method and builds its endpoints.</summary>
internal sealed class JsonTranscodingBinder : ServiceBinderBase
{
    private readonly ServiceDescriptor _service;
    private readonly TranscodingContext _context;
    private readonly List<TranscodedRoute> _routes;

    private JsonTranscodingBinder(ServiceDescriptor service, TranscodingContext context, List<TranscodedRoute> routes)
    {
        _service = service;
        _context = context;
        _routes = routes;
    }

    public static IReadOnlyList<TranscodedRoute> Collect(GrpcServiceRegistry registry, TranscodingContext context)
    {
        var routes = new List<TranscodedRoute>();
        foreach (var definition in registry.Services)
        {
            var service = definition.Descriptor?.Services.FirstOrDefault(s => s.FullName == definition.ServiceName);
            if (service is not null)
            {
                definition.BindService(new JsonTranscodingBinder(service, context, routes));
            }
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var route in routes)
        {
            if (!seen.Add(route.HttpMethod + " " + route.Template))
            {
                throw new InvalidOperationException($"google.api.http: {route.HttpMethod} {route.Template} is declared twice (again by {route.MethodFullName}).");
            }
        }

        return routes;
    }

    /// <summary>The method's google.api.http rule, or null when it has none.</summary>
    internal static HttpRule? GetHttpRule(MethodDescriptor method)
    {
        var options = method.GetOptions();
        return options is not null && options.HasExtension(AnnotationsExtensions.Http) ? options.GetExtension(AnnotationsExtensions.Http) : null;
    }

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
    {
        if (handler is not null && Rules(method.Name, out var descriptor) is { } rules)
        {
            foreach (var (httpMethod, pattern, rule) in rules)
            {
                var endpoint = new TranscodedEndpoint(descriptor, rule, pattern, _context);
                _routes.Add(new TranscodedRoute(httpMethod, pattern.RouteTemplate, method.FullName, http => endpoint.HandleUnaryAsync(http, handler)));
            }
        }
    }

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
    {
        if (handler is not null && Rules(method.Name, out var descriptor) is { } rules)
        {
            foreach (var (httpMethod, pattern, rule) in rules)
            {
                var endpoint = new TranscodedEndpoint(descriptor, rule, pattern, _context);
                _routes.Add(new TranscodedRoute(httpMethod, pattern.RouteTemplate, method.FullName, http => endpoint.HandleServerStreamingAsync(http, handler)));
            }
        }
    }

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
    {
        if (Rules(method.Name, out _) is not null)
        {
            throw new InvalidOperationException($"google.api.http on {method.FullName}: client-streaming methods cannot be transcoded to JSON; remove the annotation.");
        }
    }

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
    {
        if (Rules(method.Name, out _) is not null)
        {
            throw new InvalidOperationException($"google.api.http on {method.FullName}: bidirectional-streaming methods cannot be transcoded to JSON; remove the annotation.");
        }
    }

    private List<(string HttpMethod, HttpRulePattern Pattern, HttpRule Rule)>? Rules(string methodName, out MethodDescriptor descriptor)
    {
        descriptor = _service.FindMethodByName(methodName)
            ?? throw new InvalidOperationException($"{_service.FullName}/{methodName} is mapped but not declared in {_service.File.Name}.");
        var rule = GetHttpRule(descriptor);
        if (rule is null)
        {
            return null;
        }

        var rules = new List<(string, HttpRulePattern, HttpRule)>();
        Add(rule, descriptor, rules, nested: false);
        return rules;
    }

    private static void Add(HttpRule rule, MethodDescriptor method, List<(string, HttpRulePattern, HttpRule)> rules, bool nested)
    {
        var where = $"google.api.http on {method.FullName}";
        var (httpMethod, template) = rule.PatternCase switch
        {
            HttpRule.PatternOneofCase.Get => (HttpMethods.Get, rule.Get),
            HttpRule.PatternOneofCase.Put => (HttpMethods.Put, rule.Put),
            HttpRule.PatternOneofCase.Post => (HttpMethods.Post, rule.Post),
            HttpRule.PatternOneofCase.Delete => (HttpMethods.Delete, rule.Delete),
            HttpRule.PatternOneofCase.Patch => (HttpMethods.Patch, rule.Patch),
            HttpRule.PatternOneofCase.Custom => (rule.Custom.Kind.ToUpperInvariant(), rule.Custom.Path),
            _ => throw new InvalidOperationException($"{where}: the rule has no pattern (get, put, post, delete, patch or custom)."),
        };
        HttpRulePattern pattern;
        try
        {
            pattern = HttpRulePattern.Parse(template);
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException($"{where}: {ex.Message}", ex);
        }

        foreach (var variable in pattern.Variables)
        {
            FieldPaths.Resolve(method.InputType, variable.FieldPath, where, requireScalar: true);
        }

        if (rule.Body.Length > 0 && rule.Body != "*")
        {
            FieldPaths.Resolve(method.InputType, rule.Body, where, requireScalar: false);
        }

        if (rule.ResponseBody.Length > 0)
        {
            FieldPaths.Resolve(method.OutputType, rule.ResponseBody, where, requireScalar: false);
        }

        rules.Add((httpMethod, pattern, rule));
        foreach (var additional in rule.AdditionalBindings)
        {
            if (nested)
            {
                throw new InvalidOperationException($"{where}: additional_bindings must not nest.");
            }

            Add(additional, method, rules, nested: true);
        }
    }
}

/// <summary>Looks up and sets request fields by dotted path (proto or JSON names).</summary>
internal static class FieldPaths
{
    public static IReadOnlyList<FieldDescriptor> Resolve(MessageDescriptor message, string path, string where, bool requireScalar)
    {
        var fields = new List<FieldDescriptor>();
        var current = message;
        var names = path.Split('.');
        for (var i = 0; i < names.Length; i++)
        {
            var field = Find(current, names[i])
                ?? throw new InvalidOperationException($"{where}: '{path}' is not a field of {message.FullName}.");
            fields.Add(field);
            if (i < names.Length - 1)
            {
                if (field.FieldType != FieldType.Message || field.IsRepeated || field.IsMap)
                {
                    throw new InvalidOperationException($"{where}: '{path}': {field.Name} is not a singular message field.");
                }

                current = field.MessageType;
            }
        }

        var last = fields[^1];
        if (requireScalar && (last.FieldType is FieldType.Message or FieldType.Group || last.IsMap))
        {
            throw new InvalidOperationException($"{where}: '{path}' must be a scalar or enum field to bind from the path.");
        }

        return fields;
    }

    public static FieldDescriptor? Find(MessageDescriptor message, string name)
        => message.FindFieldByName(name) ?? message.Fields.InDeclarationOrder().FirstOrDefault(f => f.JsonName == name);

    /// <summary>Sets (or, for a repeated field, adds) a value given as text; false with a reason when the text does not fit.</summary>
    public static bool TrySet(IMessage message, IReadOnlyList<FieldDescriptor> path, string text, out string? error)
    {
        var target = message;
        for (var i = 0; i < path.Count - 1; i++)
        {
            var accessor = path[i].Accessor;
            if (accessor.GetValue(target) is not IMessage child)
            {
                child = path[i].MessageType.Parser.ParseFrom(ByteString.Empty);
                accessor.SetValue(target, child);
            }

            target = child;
        }

        var field = path[^1];
        if (!TryConvert(field, text, out var value))
        {
            error = $"'{text}' is not a valid {field.FieldType.ToString().ToLowerInvariant()} for {field.Name}.";
            return false;
        }

        if (field.IsRepeated)
        {
            ((System.Collections.IList)field.Accessor.GetValue(target)).Add(value);
        }
        else
        {
            field.Accessor.SetValue(target, value);
        }

        error = null;
        return true;
    }

    private static bool TryConvert(FieldDescriptor field, string text, out object? value)
    {
        var inv = CultureInfo.InvariantCulture;
        value = null;
        switch (field.FieldType)
        {
            case FieldType.String:
                value = text;
                return true;
            case FieldType.Bool:
                if (bool.TryParse(text, out var b))
                {
                    value = b;
                    return true;
                }

                return false;
            case FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32:
                if (int.TryParse(text, NumberStyles.AllowLeadingSign, inv, out var i32))
                {
                    value = i32;
                    return true;
                }

                return false;
            case FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64:
                if (long.TryParse(text, NumberStyles.AllowLeadingSign, inv, out var i64))
                {
                    value = i64;
                    return true;
                }

                return false;
            case FieldType.UInt32 or FieldType.Fixed32:
                if (uint.TryParse(text, NumberStyles.None, inv, out var u32))
                {
                    value = u32;
                    return true;
                }

                return false;
            case FieldType.UInt64 or FieldType.Fixed64:
                if (ulong.TryParse(text, NumberStyles.None, inv, out var u64))
                {
                    value = u64;
                    return true;
                }

                return false;
            case FieldType.Double:
                if (double.TryParse(text, NumberStyles.Float, inv, out var d))
                {
                    value = d;
                    return true;
                }

                return false;
            case FieldType.Float:
                if (float.TryParse(text, NumberStyles.Float, inv, out var f))
                {
                    value = f;
                    return true;
                }

                return false;
            case FieldType.Enum:
                var enumValue = field.EnumType.FindValueByName(text)
                    ?? (int.TryParse(text, NumberStyles.AllowLeadingSign, inv, out var number) ? field.EnumType.FindValueByNumber(number) : null);
                if (enumValue is null)
                {
                    return false;
                }

                value = enumValue.Number;
                return true;
            case FieldType.Bytes:
                try
                {
                    value = ByteString.FromBase64(text.Replace('-', '+').Replace('_', '/'));
                    return true;
                }
                catch (FormatException)
                {
                    return false;
                }

            default:
                return false;
        }
    }
}

/// <summary>One transcoded route: builds the request from path, query and body, calls the handler, writes JSON.</summary>
internal sealed partial class TranscodedEndpoint
{
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default);

    private readonly MethodDescriptor _method;
    private readonly HttpRule _rule;
    private readonly TranscodingContext _context;
    private readonly List<(IReadOnlyList<FieldDescriptor> Path, HttpRulePattern.VariableBinding Binding)> _pathBindings = [];
    private readonly IReadOnlyList<FieldDescriptor>? _bodyField;
    private readonly IReadOnlyList<FieldDescriptor>? _responseField;

    public TranscodedEndpoint(MethodDescriptor method, HttpRule rule, HttpRulePattern pattern, TranscodingContext context)
    {
        _method = method;
        _rule = rule;
        _context = context;
        var where = $"google.api.http on {method.FullName}";
        foreach (var variable in pattern.Variables)
        {
            _pathBindings.Add((FieldPaths.Resolve(method.InputType, variable.FieldPath, where, requireScalar: true), variable));
        }

        if (rule.Body.Length > 0 && rule.Body != "*")
        {
            _bodyField = FieldPaths.Resolve(method.InputType, rule.Body, where, requireScalar: false);
        }

        if (rule.ResponseBody.Length > 0)
        {
            _responseField = FieldPaths.Resolve(method.OutputType, rule.ResponseBody, where, requireScalar: false);
        }
    }

    private string FullName => "/" + _method.Service.FullName + "/" + _method.Name;

    public async Task HandleUnaryAsync<TRequest, TResponse>(HttpContext http, UnaryServerMethod<TRequest, TResponse> handler)
    {
        var requestId = RestServerCallContext.ResolveRequestId(http);
        var (request, error) = await BuildRequestAsync(http).ConfigureAwait(false);
        if (error is not null)
        {
            await RestErrorMapping.WriteRpcStatusAsync(http, error).ConfigureAwait(false);
            return;
        }

        using var call = RestServerCallContext.Create(http, FullName, requestId, _context.TimeProvider, out var timeoutError);
        if (timeoutError is not null)
        {
            await RestErrorMapping.WriteRpcStatusAsync(http, RestErrorMapping.BadRequest(timeoutError)).ConfigureAwait(false);
            return;
        }

        try
        {
            var response = await handler((TRequest)request!, call).ConfigureAwait(false);
            if (call.Status.StatusCode != StatusCode.OK)
            {
                throw new RpcException(call.Status, call.ResponseTrailers);
            }

            http.Response.StatusCode = StatusCodes.Status200OK;
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(FormatResponse((IMessage)response!) + "\n", http.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await FailAsync(http, call, ex, started: false).ConfigureAwait(false);
        }
    }

    public async Task HandleServerStreamingAsync<TRequest, TResponse>(HttpContext http, ServerStreamingServerMethod<TRequest, TResponse> handler)
    {
        var requestId = RestServerCallContext.ResolveRequestId(http);
        var (request, error) = await BuildRequestAsync(http).ConfigureAwait(false);
        if (error is not null)
        {
            await RestErrorMapping.WriteRpcStatusAsync(http, error).ConfigureAwait(false);
            return;
        }

        using var call = RestServerCallContext.Create(http, FullName, requestId, _context.TimeProvider, out var timeoutError);
        if (timeoutError is not null)
        {
            await RestErrorMapping.WriteRpcStatusAsync(http, RestErrorMapping.BadRequest(timeoutError)).ConfigureAwait(false);
            return;
        }

        var writer = new NdjsonWriter<TResponse>(http, this);
        try
        {
            await handler((TRequest)request!, writer, call).ConfigureAwait(false);
            if (call.Status.StatusCode != StatusCode.OK)
            {
                throw new RpcException(call.Status, call.ResponseTrailers);
            }

            if (!writer.Started)
            {
                writer.Start();
            }
        }
        catch (Exception ex)
        {
            await FailAsync(http, call, ex, writer.Started).ConfigureAwait(false);
        }
    }

    internal string FormatResponse(IMessage response)
    {
        if (_responseField is null)
        {
            return Formatter.Format(response);
        }

        object? value = response;
        foreach (var field in _responseField)
        {
            value = value is IMessage m ? field.Accessor.GetValue(m) : null;
        }

        return value switch
        {
            IMessage message => Formatter.Format(message),
            null => "null",
            _ => Formatter.Format(WrapForFormatting(response, _responseField)),
        };
    }

    private static IMessage WrapForFormatting(IMessage response, IReadOnlyList<FieldDescriptor> path)
    {
        // A scalar or repeated response_body: format the parent and cut out the field would need a
        // JSON rewrite; formatting the whole parent keeps the output valid JSON.
        object? parent = response;
        for (var i = 0; i < path.Count - 1; i++)
        {
            parent = parent is IMessage m ? path[i].Accessor.GetValue(m) : null;
        }

        return parent as IMessage ?? response;
    }

    private async Task<(IMessage? Request, RestError? Error)> BuildRequestAsync(HttpContext http)
    {
        IMessage request;
        var hasBody = _rule.Body.Length > 0;
        if (hasBody)
        {
            var json = await ReadBodyTextAsync(http).ConfigureAwait(false);
            if (json.Error is not null)
            {
                return (null, json.Error);
            }

            try
            {
                if (_bodyField is null)
                {
                    request = json.Text is null ? NewMessage(_method.InputType) : Parser.Parse(json.Text, _method.InputType);
                }
                else
                {
                    request = NewMessage(_method.InputType);
                    if (json.Text is not null)
                    {
                        SetBodyField(request, json.Text);
                    }
                }
            }
            catch (InvalidProtocolBufferException ex)
            {
                return (null, RestErrorMapping.BadRequest($"The request body does not match {_method.InputType.FullName}: {ex.Message}"));
            }
            catch (InvalidJsonException ex)
            {
                return (null, RestErrorMapping.BadRequest("The request body is not valid JSON: " + ex.Message));
            }
        }
        else
        {
            request = NewMessage(_method.InputType);
        }

        foreach (var (path, binding) in _pathBindings)
        {
            var value = PathValue(http, binding);
            if (!FieldPaths.TrySet(request, path, value, out var error))
            {
                return (null, RestErrorMapping.BadRequest($"Path variable {binding.FieldPath}: {error}", binding.FieldPath));
            }
        }

        if (_rule.Body != "*")
        {
            foreach (var (key, values) in http.Request.Query)
            {
                if (IsBoundElsewhere(key))
                {
                    continue;
                }

                IReadOnlyList<FieldDescriptor> path;
                try
                {
                    path = FieldPaths.Resolve(_method.InputType, key, "query", requireScalar: true);
                }
                catch (InvalidOperationException)
                {
                    return (null, RestErrorMapping.BadRequest($"Query parameter '{key}' is not a scalar field of {_method.InputType.FullName}.", key));
                }

                foreach (var value in values)
                {
                    if (value is not null && !FieldPaths.TrySet(request, path, value, out var error))
                    {
                        return (null, RestErrorMapping.BadRequest($"Query parameter {key}: {error}", key));
                    }
                }
            }
        }

        return (request, null);
    }

    private bool IsBoundElsewhere(string key)
    {
        foreach (var (_, binding) in _pathBindings)
        {
            if (binding.FieldPath == key)
            {
                return true;
            }
        }

        return _bodyField is not null && _rule.Body == key;
    }

    private void SetBodyField(IMessage request, string json)
    {
        var target = request;
        for (var i = 0; i < _bodyField!.Count - 1; i++)
        {
            if (_bodyField[i].Accessor.GetValue(target) is not IMessage child)
            {
                child = NewMessage(_bodyField[i].MessageType);
                _bodyField[i].Accessor.SetValue(target, child);
            }

            target = child;
        }

        var field = _bodyField[^1];
        if (field.FieldType == FieldType.Message && !field.IsRepeated && !field.IsMap)
        {
            field.Accessor.SetValue(target, Parser.Parse(json, field.MessageType));
            return;
        }

        // A scalar, repeated or map body field: parse it as that field of a wrapper object.
        var wrapper = Parser.Parse("{\"" + field.JsonName + "\":" + json + "}", field.ContainingType);
        field.Accessor.SetValue(target, field.Accessor.GetValue(wrapper));
    }

    private static string PathValue(HttpContext http, HttpRulePattern.VariableBinding binding)
    {
        if (binding.Parts.Count == 1 && binding.Parts[0].RouteKey is { } only)
        {
            return Uri.UnescapeDataString(http.Request.RouteValues[only] as string ?? "");
        }

        var value = new StringBuilder();
        foreach (var part in binding.Parts)
        {
            if (value.Length > 0)
            {
                value.Append('/');
            }

            value.Append(part.Literal ?? Uri.UnescapeDataString(http.Request.RouteValues[part.RouteKey!] as string ?? ""));
        }

        return value.ToString();
    }

    private async Task<(string? Text, RestError? Error)> ReadBodyTextAsync(HttpContext http)
    {
        var (document, error) = await RestBody.ReadJsonAsync(http, _context.MaxBodyBytes, allowEmpty: true).ConfigureAwait(false);
        if (error is not null)
        {
            return (null, error);
        }

        using (document)
        {
            return (document?.RootElement.GetRawText(), null);
        }
    }

    private static IMessage NewMessage(MessageDescriptor descriptor) => descriptor.Parser.ParseFrom(ByteString.Empty);

    private async Task FailAsync(HttpContext http, RestServerCallContext call, Exception exception, bool started)
    {
        if (http.RequestAborted.IsCancellationRequested)
        {
            Log.ClientDisconnected(_context.Logger, call.Method, call.RequestId);
            return;
        }

        var error = RestErrorMapping.FromHandlerFailure(call, exception, out var unexpected);
        if (unexpected)
        {
            Log.HandlerError(_context.Logger, call.Method, call.RequestId, exception);
        }

        try
        {
            if (started)
            {
                // The stream's last line says why it ended: {"error":{"code","message","details"}}.
                var line = new StringBuilder("{\"error\":");
                using (var buffer = new MemoryStream())
                {
                    using (var writer = new System.Text.Json.Utf8JsonWriter(buffer, RestJson.WriterOptions))
                    {
                        RestErrorMapping.WriteRpcStatusObject(writer, error);
                    }

                    line.Append(Encoding.UTF8.GetString(buffer.ToArray()));
                }

                line.Append("}\n");
                await http.Response.WriteAsync(line.ToString(), http.RequestAborted).ConfigureAwait(false);
            }
            else if (!http.Response.HasStarted)
            {
                await RestErrorMapping.WriteRpcStatusAsync(http, error).ConfigureAwait(false);
            }
        }
        catch (Exception writeError) when (writeError is IOException or OperationCanceledException or InvalidOperationException)
        {
            Log.HandlerError(_context.Logger, call.Method, call.RequestId, writeError);
        }
    }

    /// <summary>Server-streaming responses as newline-delimited JSON, flushed per message.</summary>
    private sealed class NdjsonWriter<T>(HttpContext http, TranscodedEndpoint endpoint) : IServerStreamWriter<T>
    {
        public WriteOptions? WriteOptions { get; set; }

        public bool Started { get; private set; }

        public void Start()
        {
            Started = true;
            http.Response.StatusCode = StatusCodes.Status200OK;
            http.Response.ContentType = "application/x-ndjson";
        }

        public async Task WriteAsync(T message, CancellationToken cancellationToken = default)
        {
            if (!Started)
            {
                Start();
            }

            await http.Response.WriteAsync(endpoint.FormatResponse((IMessage)message!) + "\n", cancellationToken).ConfigureAwait(false);
            await http.Response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(210, LogLevel.Debug, "Transcoded call {Method} ({RequestId}) ended: the client disconnected.", EventName = "TranscodingClientDisconnected")]
        public static partial void ClientDisconnected(ILogger logger, string method, string requestId);

        [LoggerMessage(211, LogLevel.Error, "Error in handler of transcoded call {Method} ({RequestId}).", EventName = "TranscodingHandlerError")]
        public static partial void HandlerError(ILogger logger, string method, string requestId, Exception exception);
    }
}
