namespace Gateway.Grpc.Redis;

/// <summary>Condition for <see cref="RedisConnection.StringSetAsync"/> (SET's NX / XX).</summary>
public enum When
{
    /// <summary>Set unconditionally.</summary>
    Always,

    /// <summary>Set only if the key exists (<c>XX</c>).</summary>
    Exists,

    /// <summary>Set only if the key does not exist (<c>NX</c>).</summary>
    NotExists,
}
