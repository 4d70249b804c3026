namespace TlsProxyTunnel.Tls;

/// <summary>
/// Reads the names <see cref="ClientHelloParser.ParseServerNames"/> wrote (one length byte, then the name),
/// in the client's order, without allocating: <c>foreach (var name in new ServerNameList(names))</c>.
/// </summary>
internal readonly ref struct ServerNameList(ReadOnlySpan<byte> entries)
{
    private readonly ReadOnlySpan<byte> _entries = entries;

    public Enumerator GetEnumerator() => new(_entries);

    internal ref struct Enumerator(ReadOnlySpan<byte> entries)
    {
        private readonly ReadOnlySpan<byte> _entries = entries;
        private int _next;

        public ReadOnlySpan<byte> Current { get; private set; }

        public bool MoveNext()
        {
            // Entries come from the parser, but a truncated list ends the walk rather than throwing.
            if (_next >= _entries.Length || _next + 1 + _entries[_next] > _entries.Length)
            {
                return false;
            }

            var length = _entries[_next];
            Current = _entries.Slice(_next + 1, length);
            _next += 1 + length;
            return true;
        }
    }
}
