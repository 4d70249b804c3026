using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Inspection;

/// <summary>
/// The <c>filters</c> of one direction, applied to each chunk in file order (prox.py's <c>-m</c> modules, built in).
/// Like prox.py, a chunk is transformed on its own: a <c>replace</c> whose text is split across two reads is not seen.
/// </summary>
internal sealed class ByteFilterChain
{
    private readonly FilterSettings[] _filters;

    private ByteFilterChain(FilterSettings[] filters) => _filters = filters;

    /// <summary>The chain for one direction; null when no filter applies to it.</summary>
    public static ByteFilterChain? For(IReadOnlyList<FilterSettings> filters, FilterDirections direction)
    {
        var mine = filters.Where(f => (f.Directions & direction) != 0).ToArray();
        return mine.Length == 0 ? null : new ByteFilterChain(mine);
    }

    /// <summary>
    /// The chunk after every filter. <paramref name="chunk"/> may be changed in place (the caller owns it); a filter
    /// that changes its length gives a new array.
    /// </summary>
    public Memory<byte> Apply(Memory<byte> chunk)
    {
        foreach (var filter in _filters)
        {
            switch (filter.Kind)
            {
                case FilterKind.Uppercase:
                    Ascii(chunk.Span, upper: true);
                    break;
                case FilterKind.Lowercase:
                    Ascii(chunk.Span, upper: false);
                    break;
                case FilterKind.Replace:
                    chunk = Replace(chunk, filter.From, filter.To);
                    break;
            }
        }

        return chunk;
    }

    private static void Ascii(Span<byte> data, bool upper)
    {
        // Bytes, not text: only ASCII letters change, as Python 2's str.upper() in the C locale did.
        var (from, to) = upper ? ((byte)'a', (byte)'z') : ((byte)'A', (byte)'Z');
        for (var i = 0; i < data.Length; i++)
        {
            var b = data[i];
            if (b >= from && b <= to)
            {
                data[i] = (byte)(b ^ 0x20);
            }
        }
    }

    private static Memory<byte> Replace(Memory<byte> chunk, byte[] from, byte[] to)
    {
        var span = chunk.Span;
        var first = span.IndexOf(from);
        if (first < 0)
        {
            return chunk;
        }

        if (from.Length == to.Length)
        {
            // Same length: in place, no copy.
            for (var at = first; at >= 0;)
            {
                to.CopyTo(span[at..]);
                var next = span[(at + from.Length)..].IndexOf(from);
                at = next < 0 ? -1 : at + from.Length + next;
            }

            return chunk;
        }

        var output = new List<byte>(span.Length + to.Length);
        var rest = span;
        for (var index = first; index >= 0; index = rest.IndexOf(from))
        {
            output.AddRange(rest[..index]);
            output.AddRange(to);
            rest = rest[(index + from.Length)..];
        }

        output.AddRange(rest);
        return output.ToArray();
    }
}
