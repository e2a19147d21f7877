namespace Gateway.Grpc.Server.Dispatch;

/// <summary>
/// Caps retries at a fraction of recent requests (plus a small floor per second) over a
/// 10-second sliding window, so a provider outage does not multiply traffic by the retry count.
/// </summary>
internal sealed class RetryBudget(double ratio, int minPerSecond, TimeProvider timeProvider)
{
    private const int Buckets = 10;
    private readonly Lock _lock = new();
    private readonly long[] _requests = new long[Buckets];
    private readonly long[] _retries = new long[Buckets];
    private readonly long[] _bucketSecond = new long[Buckets];

    public void RecordRequest()
    {
        lock (_lock)
        {
            _requests[Bucket()]++;
        }
    }

    /// <summary>Takes one retry from the budget; false when the budget is spent.</summary>
    public bool TryAcquireRetry()
    {
        lock (_lock)
        {
            var current = Bucket();
            var now = _bucketSecond[current];
            long requests = 0, retries = 0;
            for (var i = 0; i < Buckets; i++)
            {
                if (now - _bucketSecond[i] < Buckets)
                {
                    requests += _requests[i];
                    retries += _retries[i];
                }
            }

            var allowed = Math.Max(minPerSecond * (double)Buckets, ratio * requests);
            if (retries + 1 > allowed)
            {
                return false;
            }

            _retries[current]++;
            return true;
        }
    }

    private int Bucket()
    {
        var second = timeProvider.GetUtcNow().ToUnixTimeSeconds();
        var index = (int)(second % Buckets);
        if (_bucketSecond[index] != second)
        {
            _bucketSecond[index] = second;
            _requests[index] = 0;
            _retries[index] = 0;
        }

        return index;
    }
}
