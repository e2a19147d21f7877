using System.Collections;
using System.Text;

namespace Gateway.Grpc.Protocol;

/// <summary>
/// gRPC metadata: an ordered list of key/value entries. Keys are lowercase ASCII
/// <c>[0-9a-z_.-]</c>; keys ending in <c>-bin</c> hold bytes (base64 on the wire), the others
/// printable ASCII text.
/// </summary>
public sealed class Metadata : IList<Metadata.Entry>
{
    public const string BinaryHeaderSuffix = "-bin";

    private readonly List<Entry> _entries = [];

    public int Count => _entries.Count;

    public bool IsReadOnly => false;

    public Entry this[int index]
    {
        get => _entries[index];
        set => _entries[index] = value;
    }

    public void Add(string key, string value) => _entries.Add(new Entry(key, value));

    public void Add(string key, byte[] valueBytes) => _entries.Add(new Entry(key, valueBytes));

    public void Add(Entry item) => _entries.Add(item);

    /// <summary>The last entry with this key, or null.</summary>
    public Entry? Get(string key)
    {
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            if (string.Equals(_entries[i].Key, key, StringComparison.OrdinalIgnoreCase))
            {
                return _entries[i];
            }
        }

        return null;
    }

    public string? GetValue(string key) => Get(key)?.Value;

    public byte[]? GetValueBytes(string key) => Get(key)?.ValueBytes;

    public IEnumerable<Entry> GetAll(string key)
    {
        foreach (var entry in _entries)
        {
            if (string.Equals(entry.Key, key, StringComparison.OrdinalIgnoreCase))
            {
                yield return entry;
            }
        }
    }

    public void Clear() => _entries.Clear();

    public bool Contains(Entry item) => _entries.Contains(item);

    public void CopyTo(Entry[] array, int arrayIndex) => _entries.CopyTo(array, arrayIndex);

    public IEnumerator<Entry> GetEnumerator() => _entries.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _entries.GetEnumerator();

    public int IndexOf(Entry item) => _entries.IndexOf(item);

    public void Insert(int index, Entry item) => _entries.Insert(index, item);

    public bool Remove(Entry item) => _entries.Remove(item);

    public void RemoveAt(int index) => _entries.RemoveAt(index);

    internal static bool IsBinaryKey(string key) => key.EndsWith(BinaryHeaderSuffix, StringComparison.OrdinalIgnoreCase);

    /// <summary>A metadata entry.</summary>
    public sealed class Entry
    {
        private readonly string? _value;
        private readonly byte[]? _valueBytes;

        public Entry(string key, string value)
        {
            Key = NormalizeKey(key);
            if (IsBinaryKey(Key))
            {
                throw new ArgumentException($"Key '{Key}' ends with '-bin' and needs a byte[] value.", nameof(key));
            }

            ArgumentNullException.ThrowIfNull(value);
            foreach (var c in value)
            {
                if (c < 0x20 || c > 0x7E)
                {
                    throw new ArgumentException($"Metadata value for '{Key}' must be printable ASCII (0x20-0x7E); use a '-bin' key for other data.", nameof(value));
                }
            }

            _value = value;
        }

        public Entry(string key, byte[] valueBytes)
        {
            Key = NormalizeKey(key);
            if (!IsBinaryKey(Key))
            {
                throw new ArgumentException($"Key '{Key}' holds bytes and must end with '-bin'.", nameof(key));
            }

            _valueBytes = valueBytes ?? throw new ArgumentNullException(nameof(valueBytes));
        }

        public string Key { get; }

        public bool IsBinary => _valueBytes is not null;

        public string Value => _value ?? throw new InvalidOperationException($"Entry '{Key}' is binary; read ValueBytes.");

        public byte[] ValueBytes => _valueBytes ?? Encoding.ASCII.GetBytes(_value!);

        public override string ToString() => IsBinary ? $"{Key}: <{_valueBytes!.Length} bytes>" : $"{Key}: {_value}";

        private static string NormalizeKey(string key)
        {
            ArgumentException.ThrowIfNullOrEmpty(key);
            var lower = key.ToLowerInvariant();
            foreach (var c in lower)
            {
                var ok = c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_' or '.';
                if (!ok)
                {
                    throw new ArgumentException($"Metadata key '{key}' has an invalid character '{c}'; allowed: 0-9 a-z _ . -", nameof(key));
                }
            }

            return lower;
        }
    }
}
