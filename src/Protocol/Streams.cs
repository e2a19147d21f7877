namespace Gateway.Grpc.Protocol;

/// <summary>Reads a stream of messages. <see cref="MoveNext"/> returns false at the end.</summary>
public interface IAsyncStreamReader<out T>
{
    T Current { get; }

    Task<bool> MoveNext(CancellationToken cancellationToken);
}

/// <summary>Writes a stream of messages. One write at a time.</summary>
public interface IAsyncStreamWriter<in T>
{
    WriteOptions? WriteOptions { get; set; }

    Task WriteAsync(T message, CancellationToken cancellationToken = default);
}

public interface IServerStreamWriter<in T> : IAsyncStreamWriter<T>
{
}

public interface IClientStreamWriter<in T> : IAsyncStreamWriter<T>
{
    /// <summary>Half-closes the request stream.</summary>
    Task CompleteAsync();
}

[Flags]
public enum WriteFlags
{
    None = 0,

    /// <summary>Send this message uncompressed even when the call uses a message coding.</summary>
    NoCompress = 0x2,
}

public sealed record WriteOptions(WriteFlags Flags = WriteFlags.None);

public static class AsyncStreamReaderExtensions
{
    /// <summary>Reads every remaining message as an async sequence.</summary>
    public static async IAsyncEnumerable<T> ReadAllAsync<T>(this IAsyncStreamReader<T> reader, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        while (await reader.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            yield return reader.Current;
        }
    }
}
