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

            if (stream.Documents.Count > 0)
            {
                Visit(stream.Documents[0].RootNode, null, data);
            }

            Data = data;
        }

        private static void Visit(YamlNode node, string? prefix, Dictionary<string, string?> data)
        {
            switch (node)
            {
                case YamlMappingNode mapping:
                    foreach (var (key, value) in mapping.Children)
                    {
                        var name = ((YamlScalarNode)key).Value ?? "";
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
