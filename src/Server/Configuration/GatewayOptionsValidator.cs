using System.Net;

namespace Gateway.Grpc.Server.Configuration;

/// <summary>Checks the configuration at start-up; every message names the key and the fix.</summary>
internal static class GatewayOptionsValidator
{
    public static List<string> Validate(GatewayOptions options, IReadOnlyCollection<string> knownProviders)
    {
        var errors = new List<string>();
        if (!TryParseEndpoint(options.GrpcAddress, out _))
        {
            errors.Add($"grpcAddress: '{options.GrpcAddress}' is not a host:port address (for example 127.0.0.1:50051).");
        }

        if (!TryParseEndpoint(options.HttpAddress, out _))
        {
            errors.Add($"httpAddress: '{options.HttpAddress}' is not a host:port address (for example 127.0.0.1:8080).");
        }

        if (options.GrpcAddress == options.HttpAddress)
        {
            errors.Add("httpAddress: must differ from grpcAddress (gRPC needs an HTTP/2-only port).");
        }

        if (options.MaxReceiveMessageSize <= 0)
        {
            errors.Add($"maxReceiveMessageSize: must be positive, got {options.MaxReceiveMessageSize}.");
        }

        if (options.MaxStreamsPerConnection <= 0)
        {
            errors.Add($"maxStreamsPerConnection: must be positive, got {options.MaxStreamsPerConnection}.");
        }

        var modelNames = new HashSet<string>(StringComparer.Ordinal);
        var deploymentNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Models.Count; i++)
        {
            var model = options.Models[i];
            var key = $"models:{i}";
            if (string.IsNullOrWhiteSpace(model.Name))
            {
                errors.Add($"{key}:name: is required (the public model name callers use).");
            }
            else if (!modelNames.Add(model.Name))
            {
                errors.Add($"{key}:name: '{model.Name}' is defined twice; model names must be unique.");
            }

            if (model.ContextWindow < 0)
            {
                errors.Add($"{key}:contextWindow: must not be negative.");
            }

            if (model.Deployments.Count == 0)
            {
                errors.Add($"{key}:deployments: model '{model.Name}' needs at least one deployment.");
            }

            for (var j = 0; j < model.Deployments.Count; j++)
            {
                var deployment = model.Deployments[j];
                var dkey = $"{key}:deployments:{j}";
                if (string.IsNullOrWhiteSpace(deployment.Name))
                {
                    errors.Add($"{dkey}:name: is required (a unique deployment name).");
                }
                else if (!deploymentNames.Add(deployment.Name))
                {
                    errors.Add($"{dkey}:name: '{deployment.Name}' is used twice; deployment names must be unique.");
                }

                if (!knownProviders.Contains(deployment.Provider))
                {
                    errors.Add($"{dkey}:provider: '{deployment.Provider}' is not a known provider (known: {string.Join(", ", knownProviders)}).");
                }
            }
        }

        return errors;
    }

    public static bool TryParseEndpoint(string value, out IPEndPoint endpoint)
    {
        endpoint = null!;
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        var text = value.Trim();
        if (text.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase))
        {
            text = "127.0.0.1:" + text["localhost:".Length..];
        }

        if (!IPEndPoint.TryParse(text, out var parsed) || parsed.Port == 0 && !text.EndsWith(":0", StringComparison.Ordinal))
        {
            return false;
        }

        endpoint = parsed;
        return true;
    }
}
