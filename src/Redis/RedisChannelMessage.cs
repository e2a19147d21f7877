using System.Text;

namespace Gateway.Grpc.Redis;

/// <summary>A message delivered to a <see cref="RedisConnection.SubscribeAsync"/> handler.</summary>
public sealed class RedisChannelMessage
{
    private readonly byte[] _payload;
    private string? _text;

    internal RedisChannelMessage(string channel, byte[] payload)
    {
        Channel = channel;
        _payload = payload;
    }

    /// <summary>The channel it was published to.</summary>
    public string Channel { get; }

    /// <summary>The published bytes.</summary>
    public ReadOnlyMemory<byte> Payload => _payload;

    /// <summary>The payload decoded as UTF-8.</summary>
    public string Text => _text ??= Encoding.UTF8.GetString(_payload);

    /// <inheritdoc />
    public override string ToString() => $"{Channel}: {Text}";
}
