using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Gateway.Grpc.Redis;

/// <summary>The RESP2 type of a reply.</summary>
public enum RedisResultType
{
    /// <summary><c>+OK</c>: a short status string.</summary>
    SimpleString,

    /// <summary><c>-ERR ...</c>: an error. A top-level error reply is thrown as <see cref="RedisServerException"/>;
    /// this type is only seen for errors nested inside an array (for example a Lua script returning an error table).</summary>
    Error,

    /// <summary><c>:42</c>: a signed 64-bit integer.</summary>
    Integer,

    /// <summary><c>$5\r\nhello</c>: a binary-safe string; <c>$-1</c> is the null bulk string.</summary>
    BulkString,

    /// <summary><c>*2\r\n...</c>: an array of replies, possibly nested; <c>*-1</c> is the null array.</summary>
    Array,
}

/// <summary>
/// One reply from Redis. Immutable. Conversions follow StackExchange.Redis: explicit casts to
/// <see cref="string"/>, <see cref="long"/>, <see cref="byte"/>[] and <see cref="RedisResult"/>[],
/// or the <c>As*</c> methods.
/// </summary>
public sealed class RedisResult
{
    private const int SmallIntegerMin = -1;
    private const int SmallIntegerMax = 1024;

    private static readonly RedisResult[] SmallIntegers = CreateSmallIntegers();

    private readonly object? _value;   // string (simple, error), byte[] (bulk), RedisResult[] (array), null (null bulk/array or integer)
    private readonly long _integer;

    private RedisResult(RedisResultType type, object? value, long integer)
    {
        Type = type;
        _value = value;
        _integer = integer;
    }

    /// <summary>The <c>+OK</c> reply.</summary>
    public static RedisResult Ok { get; } = new(RedisResultType.SimpleString, "OK", 0);

    /// <summary>The null bulk string <c>$-1</c> (GET of a missing key).</summary>
    public static RedisResult NullBulkString { get; } = new(RedisResultType.BulkString, null, 0);

    /// <summary>The null array <c>*-1</c>.</summary>
    public static RedisResult NullArray { get; } = new(RedisResultType.Array, null, 0);

    /// <summary>The empty array <c>*0</c>.</summary>
    public static RedisResult EmptyArray { get; } = new(RedisResultType.Array, System.Array.Empty<RedisResult>(), 0);

    /// <summary>The RESP2 type of this reply.</summary>
    public RedisResultType Type { get; }

    /// <summary>True for the null bulk string and the null array.</summary>
    public bool IsNull => _value is null && Type is RedisResultType.BulkString or RedisResultType.Array;

    /// <summary>For an array, the number of elements; for a bulk string, its length in bytes; otherwise 0.</summary>
    public int Length => _value switch
    {
        RedisResult[] items => items.Length,
        byte[] bytes => bytes.Length,
        _ => 0,
    };

    /// <summary>The element at <paramref name="index"/> of an array reply.</summary>
    /// <exception cref="InvalidCastException">The reply is not a non-null array.</exception>
    public RedisResult this[int index] => AsArray() is { } items
        ? items[index]
        : throw new InvalidCastException($"The reply is a null {Type}, not an array with element {index}.");

    /// <summary>Creates a simple-string reply (for tests and fakes).</summary>
    public static RedisResult FromSimpleString(string value)
        => value == "OK" ? Ok : new(RedisResultType.SimpleString, value ?? throw new ArgumentNullException(nameof(value)), 0);

    /// <summary>Creates an error reply (the message includes the prefix, e.g. <c>ERR unknown command</c>).</summary>
    public static RedisResult FromError(string message)
        => new(RedisResultType.Error, message ?? throw new ArgumentNullException(nameof(message)), 0);

    /// <summary>Creates an integer reply.</summary>
    public static RedisResult FromInteger(long value)
        => value is >= SmallIntegerMin and <= SmallIntegerMax
            ? SmallIntegers[value - SmallIntegerMin]
            : new(RedisResultType.Integer, null, value);

    /// <summary>Creates a bulk-string reply that takes ownership of <paramref name="value"/>; null makes the null bulk string.</summary>
    public static RedisResult FromBulkString(byte[]? value) => value is null ? NullBulkString : new(RedisResultType.BulkString, value, 0);

    /// <summary>Creates a bulk-string reply from UTF-8 text; null makes the null bulk string.</summary>
    public static RedisResult FromBulkString(string? value) => value is null ? NullBulkString : new(RedisResultType.BulkString, Encoding.UTF8.GetBytes(value), 0);

    /// <summary>Creates an array reply that takes ownership of <paramref name="items"/>; null makes the null array.</summary>
    public static RedisResult FromArray(RedisResult[]? items)
        => items is null ? NullArray : items.Length == 0 ? EmptyArray : new(RedisResultType.Array, items, 0);

    /// <summary>
    /// The reply as text: simple strings and error messages as they are, bulk strings decoded as UTF-8,
    /// integers in invariant culture, null for null replies.
    /// </summary>
    /// <exception cref="InvalidCastException">The reply is an array.</exception>
    public string? AsString() => Type switch
    {
        RedisResultType.SimpleString or RedisResultType.Error => (string)_value!,
        RedisResultType.BulkString => _value is byte[] bytes ? Encoding.UTF8.GetString(bytes) : null,
        RedisResultType.Integer => _integer.ToString(CultureInfo.InvariantCulture),
        _ => _value is null ? null : throw new InvalidCastException("The reply is an array, not a string; use AsArray()."),
    };

    /// <summary>The reply as a 64-bit integer: integer replies, or bulk/simple strings holding a decimal integer.</summary>
    /// <exception cref="InvalidCastException">The reply is null, an array, an error, or text that is not an integer.</exception>
    public long AsInt64()
    {
        switch (Type)
        {
            case RedisResultType.Integer:
                return _integer;
            case RedisResultType.BulkString when _value is byte[] bytes:
                if (Utf8Parser.TryParse(bytes, out long parsed, out var consumed) && consumed == bytes.Length)
                {
                    return parsed;
                }

                break;
            case RedisResultType.SimpleString:
                if (long.TryParse((string)_value!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var fromText))
                {
                    return fromText;
                }

                break;
        }

        throw new InvalidCastException($"The reply ({Describe()}) is not an integer.");
    }

    /// <summary>The reply as a nullable integer: null for null replies, otherwise <see cref="AsInt64"/>.</summary>
    public long? AsNullableInt64() => IsNull ? null : AsInt64();

    /// <summary>The bytes of a bulk string (null for the null bulk string), or the UTF-8 of a simple string or integer.</summary>
    /// <exception cref="InvalidCastException">The reply is an array.</exception>
    public byte[]? AsBytes() => Type switch
    {
        RedisResultType.BulkString => (byte[]?)_value,
        RedisResultType.Array => _value is null ? null : throw new InvalidCastException("The reply is an array, not a string."),
        _ => Encoding.UTF8.GetBytes(AsString()!),
    };

    /// <summary>The elements of an array reply; null for the null array.</summary>
    /// <exception cref="InvalidCastException">The reply is not an array.</exception>
    public RedisResult[]? AsArray() => Type == RedisResultType.Array
        ? (RedisResult[]?)_value
        : throw new InvalidCastException($"The reply ({Describe()}) is not an array.");

    /// <summary>Same as <see cref="AsString"/>.</summary>
    public static explicit operator string?(RedisResult result) => (result ?? throw new ArgumentNullException(nameof(result))).AsString();

    /// <summary>Same as <see cref="AsInt64"/>.</summary>
    public static explicit operator long(RedisResult result) => (result ?? throw new ArgumentNullException(nameof(result))).AsInt64();

    /// <summary>Same as <see cref="AsNullableInt64"/>.</summary>
    public static explicit operator long?(RedisResult result) => (result ?? throw new ArgumentNullException(nameof(result))).AsNullableInt64();

    /// <summary>Same as <see cref="AsBytes"/>.</summary>
    public static explicit operator byte[]?(RedisResult result) => (result ?? throw new ArgumentNullException(nameof(result))).AsBytes();

    /// <summary>Same as <see cref="AsArray"/>.</summary>
    public static explicit operator RedisResult[]?(RedisResult result) => (result ?? throw new ArgumentNullException(nameof(result))).AsArray();

    /// <summary>A debugging rendering: text for strings, the number for integers, <c>(nil)</c>, or a bracketed list.</summary>
    public override string ToString() => Type switch
    {
        RedisResultType.Array when _value is RedisResult[] items => "[" + string.Join(", ", (IEnumerable<RedisResult>)items) + "]",
        RedisResultType.Error => "(error) " + (string)_value!,
        _ => IsNull ? "(nil)" : AsString()!,
    };

    private string Describe() => IsNull ? $"null {Type}" : Type == RedisResultType.Array ? $"array of {Length}" : $"{Type} '{Truncate(AsString()!)}'";

    private static string Truncate(string text) => text.Length <= 64 ? text : string.Concat(text.AsSpan(0, 64), "...");

    private static RedisResult[] CreateSmallIntegers()
    {
        var values = new RedisResult[SmallIntegerMax - SmallIntegerMin + 1];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = new RedisResult(RedisResultType.Integer, null, i + SmallIntegerMin);
        }

        return values;
    }
}
