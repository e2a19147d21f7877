namespace Gateway.Grpc.Simulator.Generation;

/// <summary>xorshift64: tiny, fast and the same on every machine (System.Random's sequence is not a contract).</summary>
internal struct DeterministicRandom
{
    private ulong _state;

    public DeterministicRandom(ulong seed) => _state = seed == 0 ? 0x9E3779B97F4A7C15UL : seed;

    public ulong Next()
    {
        _state ^= _state << 13;
        _state ^= _state >> 7;
        _state ^= _state << 17;
        return _state;
    }

    public int Next(int maxExclusive) => (int)(Next() % (ulong)maxExclusive);

    /// <summary>Uniform in [-1, 1).</summary>
    public float NextSignedFloat() => (float)(((Next() >> 11) * (1.0 / (1UL << 53)) * 2.0) - 1.0);
}

/// <summary>FNV-1a, 64-bit, over strings: the seed of every deterministic answer.</summary>
internal struct Fnv64
{
    private ulong _hash;

    public Fnv64() => _hash = 14695981039346656037UL;

    public readonly ulong Value => _hash;

    public void Add(string? text)
    {
        if (text is not null)
        {
            foreach (var c in text)
            {
                _hash ^= c;
                _hash *= 1099511628211UL;
            }
        }

        // Separator, so ("ab","c") and ("a","bc") differ.
        _hash ^= 0xFF;
        _hash *= 1099511628211UL;
    }

    public void Add(long value)
    {
        for (var i = 0; i < 8; i++)
        {
            _hash ^= (byte)(value >> (i * 8));
            _hash *= 1099511628211UL;
        }
    }
}
