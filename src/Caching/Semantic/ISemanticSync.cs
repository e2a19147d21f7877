namespace Gateway.Grpc.Caching.Semantic;

/// <summary>
/// Shares semantic-cache entries between replicas (<see cref="SemanticSync"/> does it over Redis).
/// The response cache holds it through this interface, so a gateway without Redis never loads
/// StackExchange.Redis: the runtime loads a class's field types when it loads the class.
/// </summary>
internal interface ISemanticSync : IAsyncDisposable
{
    /// <summary>Loads the entries other replicas stored and subscribes to the ones they add.</summary>
    Task StartAsync();

    /// <summary>Stores an entry for the other replicas and tells them about it.</summary>
    ValueTask PublishAsync(VectorEntry entry, TimeSpan ttl);
}
