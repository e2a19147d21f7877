using Microsoft.Extensions.Configuration;
using YamlDotNet.RepresentationModel;

namespace Gateway.Grpc.Server.Configuration;

/// <summary>Loads a YAML file into configuration keys (<c>a:b:0:c</c>), like the JSON provider.</summary>
internal sealed class YamlConfigurationSource(string path) : IConfigurationSource
{
    public IConfigurationProvider Build(IConfigurationBuilder builder) => new YamlConfigurationProvider(path);

    private sealed class YamlConfigurationProvider(string path) : ConfigurationProvider
    {
        public override void Load()
        {
            var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            using var reader = File.OpenText(path);
            var stream = new YamlStream();
            try
            {
                stream.Load(reader);
            }
            catch (YamlDotNet.Core.YamlException ex)
            {
                throw new Hosting.GatewayConfigurationException($"Config file '{path}' is not valid YAML at line {ex.Start.Line}, column {ex.Start.Column}: {ex.Message}");
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException)
            {
                // YamlDotNet's scanner throws these (not YamlException) on some malformed input
                // (found by fuzzing: control characters inside a flow mapping).
                throw new Hosting.GatewayConfigurationException($"Config file '{path}' is not valid YAML: the parser stopped ({ex.Message}); check for control characters and unbalanced {{ }} or [ ].");
            }

            if (stream.Documents.Count > 0)
            {
                Visit(stream.Documents[0].RootNode, null, data);
            }

            Data = data;
        }

        private void Visit(YamlNode node, string? prefix, Dictionary<string, string?> data)
        {
            switch (node)
            {
                case YamlMappingNode mapping:
                    foreach (var (key, value) in mapping.Children)
                    {
                        // A key must be plain text: YAML allows a mapping or a list as a key
                        // ("? {a: 1}" or "{a: 1}: x"), which no configuration key can be.
                        if (key is not YamlScalarNode { Value: { } name })
                        {
                            throw new Hosting.GatewayConfigurationException($"Config file '{path}' has a key at line {key.Start.Line}, column {key.Start.Column} that is not plain text{(prefix is null ? "" : $" (under '{prefix}')")}; keys must be names such as grpcAddress.");
                        }

                        Visit(value, prefix is null ? name : prefix + ":" + name, data);
                    }

                    break;
                case YamlSequenceNode sequence:
                    for (var i = 0; i < sequence.Children.Count; i++)
                    {
                        Visit(sequence.Children[i], (prefix ?? "") + ":" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), data);
                    }

                    break;
                case YamlScalarNode scalar when prefix is not null:
                    data[prefix] = scalar.Value;
                    break;
            }
        }
    }
}
