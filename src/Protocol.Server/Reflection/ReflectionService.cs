using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Reflection.V1;

namespace Gateway.Grpc.Protocol.Server.Reflection;

/// <summary>
/// gRPC server reflection (grpc doc/server-reflection.md), v1 and v1alpha. The two versions
/// are wire-identical, so both are served with the v1 message types under their own service
/// names. Errors are messages on the stream, not failed calls.
/// </summary>
internal sealed class ReflectionService(GrpcServiceRegistry registry)
{
    public const string V1ServiceName = "grpc.reflection.v1.ServerReflection";
    public const string V1AlphaServiceName = "grpc.reflection.v1alpha.ServerReflection";

    private Index? _index;

    public ServerServiceDefinition CreateDefinition(string serviceName)
    {
        var method = new Method<ServerReflectionRequest, ServerReflectionResponse>(
            MethodType.DuplexStreaming,
            serviceName,
            "ServerReflectionInfo",
            Marshallers.Protobuf(ServerReflectionRequest.Parser),
            Marshallers.Protobuf(ServerReflectionResponse.Parser));
        var descriptor = serviceName == V1ServiceName
            ? ReflectionReflection.Descriptor
            : global::Grpc.Reflection.V1Alpha.ReflectionReflection.Descriptor;
        return ServerServiceDefinition.CreateBuilder(serviceName, descriptor)
            .AddMethod(method, async (requests, responses, context) =>
            {
                while (await requests.MoveNext(context.CancellationToken).ConfigureAwait(false))
                {
                    await responses.WriteAsync(Answer(requests.Current), context.CancellationToken).ConfigureAwait(false);
                }
            })
            .Build();
    }

    internal ServerReflectionResponse Answer(ServerReflectionRequest request)
    {
        var index = _index ??= new Index(registry);
        var response = new ServerReflectionResponse { ValidHost = request.Host, OriginalRequest = request };
        switch (request.MessageRequestCase)
        {
            case ServerReflectionRequest.MessageRequestOneofCase.ListServices:
                var list = new ListServiceResponse();
                foreach (var name in index.ServiceNames)
                {
                    list.Service.Add(new ServiceResponse { Name = name });
                }

                response.ListServicesResponse = list;
                break;
            case ServerReflectionRequest.MessageRequestOneofCase.FileByFilename:
                SetFile(response, index.FindFile(request.FileByFilename), $"File not found: {request.FileByFilename}");
                break;
            case ServerReflectionRequest.MessageRequestOneofCase.FileContainingSymbol:
                SetFile(response, index.FindSymbol(request.FileContainingSymbol), $"Symbol not found: {request.FileContainingSymbol}");
                break;
            case ServerReflectionRequest.MessageRequestOneofCase.FileContainingExtension:
            case ServerReflectionRequest.MessageRequestOneofCase.AllExtensionNumbersOfType:
                response.ErrorResponse = new ErrorResponse { ErrorCode = (int)StatusCode.Unimplemented, ErrorMessage = "Extensions are not supported." };
                break;
            default:
                response.ErrorResponse = new ErrorResponse { ErrorCode = (int)StatusCode.InvalidArgument, ErrorMessage = "Request has no message_request set." };
                break;
        }

        return response;
    }

    private static void SetFile(ServerReflectionResponse response, FileDescriptor? file, string notFound)
    {
        if (file is null)
        {
            response.ErrorResponse = new ErrorResponse { ErrorCode = (int)StatusCode.NotFound, ErrorMessage = notFound };
            return;
        }

        // The file plus all its transitive dependencies, each once, dependencies first.
        var files = new FileDescriptorResponse();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        AddWithDependencies(file, files, seen);
        response.FileDescriptorResponse = files;
    }

    private static void AddWithDependencies(FileDescriptor file, FileDescriptorResponse files, HashSet<string> seen)
    {
        if (!seen.Add(file.Name))
        {
            return;
        }

        foreach (var dependency in file.Dependencies)
        {
            AddWithDependencies(dependency, files, seen);
        }

        files.FileDescriptorProto.Add(file.SerializedData);
    }

    private sealed class Index
    {
        private readonly Dictionary<string, FileDescriptor> _files = new(StringComparer.Ordinal);
        private readonly Dictionary<string, FileDescriptor> _symbols = new(StringComparer.Ordinal);

        public Index(GrpcServiceRegistry registry)
        {
            var names = new List<string>();
            foreach (var service in registry.Services)
            {
                names.Add(service.ServiceName);
                if (service.Descriptor is not null)
                {
                    AddFile(service.Descriptor);
                }
            }

            names.Sort(StringComparer.Ordinal);
            ServiceNames = names;
        }

        public IReadOnlyList<string> ServiceNames { get; }

        public FileDescriptor? FindFile(string name) => _files.GetValueOrDefault(name);

        public FileDescriptor? FindSymbol(string symbol)
        {
            if (_symbols.TryGetValue(symbol, out var file))
            {
                return file;
            }

            // A method is named Service.Method: look up its service.
            var dot = symbol.LastIndexOf('.');
            return dot > 0 && _symbols.TryGetValue(symbol[..dot], out file) ? file : null;
        }

        private void AddFile(FileDescriptor file)
        {
            if (!_files.TryAdd(file.Name, file))
            {
                return;
            }

            foreach (var dependency in file.Dependencies)
            {
                AddFile(dependency);
            }

            foreach (var service in file.Services)
            {
                _symbols[service.FullName] = file;
                foreach (var method in service.Methods)
                {
                    _symbols[method.FullName] = file;
                }
            }

            foreach (var message in file.MessageTypes)
            {
                AddMessage(message, file);
            }

            foreach (var e in file.EnumTypes)
            {
                _symbols[e.FullName] = file;
            }
        }

        private void AddMessage(MessageDescriptor message, FileDescriptor file)
        {
            _symbols[message.FullName] = file;
            foreach (var nested in message.NestedTypes)
            {
                AddMessage(nested, file);
            }

            foreach (var e in message.EnumTypes)
            {
                _symbols[e.FullName] = file;
            }
        }
    }
}
