using System.Buffers.Binary;
using System.Diagnostics;

namespace TlsProxyTunnel.Tls;

/// <summary>
/// Finds the SNI host name in the bytes a client has sent so far, without allocating,
/// throwing or reading past the input. Call it again with the longer prefix after every
/// read until it returns something other than <see cref="ClientHelloOutcome.NeedMoreData"/>.
/// </summary>
/// <remarks>
/// <para>The whole ClientHello handshake message is validated before a verdict other than
/// NeedMoreData is given, so a strict prefix of a valid hello is always NeedMoreData and
/// the answer never depends on how the client split its writes or its TLS records.</para>
/// <para>Decisions for the ambiguous cases (sni-routers.md §2.10):</para>
/// <list type="bullet">
/// <item>Record version 0x0300–0x0304 is accepted; client_version is not policed (a
/// passthrough router routes, the backend negotiates).</item>
/// <item>Records after the one that completes the hello are never looked at (0-RTT data,
/// garbage, anything). Records before that must be handshake records of non-zero length
/// and at most 2^14 bytes (RFC 8446 §5.1), otherwise Malformed.</item>
/// <item>All nested lengths are checked against the handshake length, strictly: a hello whose
/// handshake length is shorter than its content (the "short hello" vectors) is Malformed,
/// and so are bytes left after the last extension.</item>
/// <item>A second server_name extension is Malformed: RFC 8446 §4.2 forbids duplicate
/// extensions and two names would make routing ambiguous. Other duplicates are not policed.</item>
/// <item>Every host_name entry (name_type 0) of 1 to 255 bytes is reported, in the client's order
/// (<see cref="ParseServerNames"/>); the router takes the first that matches a route, as
/// tls-proxy-tunnel does. Entries of unknown name types are skipped (they are assumed to carry a
/// 16-bit length like host_name, as Go and sniproxy assume), and so are empty or longer host_names:
/// no route can match them. <see cref="Parse(ReadOnlySpan{byte}, Span{byte}, out int, int)"/> reports
/// the first usable one.</item>
/// <item>An empty server_name extension (the ServerHello form) is NoSni, not Malformed.</item>
/// <item>ECH (0xfe0d) needs nothing special: the outer hello's SNI is the public name to route
/// on. The overload with <c>echOffered</c> reports it so the caller can log it.</item>
/// </list>
/// </remarks>
internal static class ClientHelloParser
{
    /// <summary>Size <c>hostName</c> must have: the longest host_name we ever report.</summary>
    public const int MaxHostNameLength = 255;

    /// <summary>Least size of the <c>names</c> buffer of <see cref="ParseServerNames"/>: one entry of the longest name.</summary>
    public const int MinNameListLength = MaxHostNameLength + 1;

    /// <summary>Default cap on the bytes (record headers included) a hello may take.</summary>
    public const int DefaultMaxBytes = 16384;

    private const byte ContentTypeHandshake = 0x16;
    private const byte HandshakeTypeClientHello = 0x01;
    private const int RecordHeaderLength = 5;
    private const int HandshakeHeaderLength = 4;
    private const int MaxRecordPayload = 1 << 14;
    private const ushort ExtensionServerName = 0x0000;
    private const ushort ExtensionEncryptedClientHello = 0xfe0d;
    private const byte NameTypeHostName = 0;

    /// <summary>Parses the ClientHello at the start of <paramref name="data"/>.</summary>
    /// <param name="data">Every byte received from the client so far, from the first.</param>
    /// <param name="hostName">Receives the raw host_name on <see cref="ClientHelloOutcome.SniFound"/>;
    /// must be at least <see cref="MaxHostNameLength"/> bytes (a shorter buffer is a caller bug
    /// and yields <see cref="ClientHelloOutcome.Malformed"/>).</param>
    /// <param name="hostNameLength">Bytes written to <paramref name="hostName"/>; 0 unless SniFound.</param>
    /// <param name="maxBytes">Cap on the bytes the hello may need, record headers included.</param>
    public static ClientHelloOutcome Parse(ReadOnlySpan<byte> data, Span<byte> hostName, out int hostNameLength, int maxBytes = DefaultMaxBytes) =>
        Parse(data, hostName, out hostNameLength, out _, maxBytes);

    /// <inheritdoc cref="Parse(ReadOnlySpan{byte}, Span{byte}, out int, int)"/>
    /// <param name="data">Every byte received from the client so far, from the first.</param>
    /// <param name="hostName">Receives the raw host_name; at least <see cref="MaxHostNameLength"/> bytes.</param>
    /// <param name="hostNameLength">Bytes written to <paramref name="hostName"/>; 0 unless SniFound.</param>
    /// <param name="echOffered">True when a complete hello carries an encrypted_client_hello extension.</param>
    /// <param name="maxBytes">Cap on the bytes the hello may need, record headers included.</param>
    public static ClientHelloOutcome Parse(ReadOnlySpan<byte> data, Span<byte> hostName, out int hostNameLength, out bool echOffered, int maxBytes = DefaultMaxBytes)
    {
        hostNameLength = 0;
        echOffered = false;
        if (hostName.Length < MaxHostNameLength)
        {
            Debug.Assert(false, "hostName must hold 255 bytes.");
            return ClientHelloOutcome.Malformed;
        }

        // Room for exactly one entry of any length: later names are validated but not kept.
        Span<byte> list = stackalloc byte[MinNameListLength];
        var outcome = ParseServerNames(data, list, out _, out echOffered, maxBytes);
        if (outcome == ClientHelloOutcome.SniFound)
        {
            hostNameLength = list[0];
            list.Slice(1, hostNameLength).CopyTo(hostName);
        }

        return outcome;
    }

    /// <summary>
    /// Parses the ClientHello at the start of <paramref name="data"/> and reports every usable host_name of its
    /// server_name extension, in the client's order.
    /// </summary>
    /// <param name="data">Every byte received from the client so far, from the first.</param>
    /// <param name="names">Receives the names as entries of one length byte and the raw name (read them with
    /// <see cref="ServerNameList"/>). At least <see cref="MinNameListLength"/> bytes, so the first name always
    /// fits; names that do not fit after it are validated but dropped.</param>
    /// <param name="namesLength">Bytes written to <paramref name="names"/>; 0 unless SniFound.</param>
    /// <param name="echOffered">True when a complete hello carries an encrypted_client_hello extension.</param>
    /// <param name="maxBytes">Cap on the bytes the hello may need, record headers included.</param>
    public static ClientHelloOutcome ParseServerNames(ReadOnlySpan<byte> data, Span<byte> names, out int namesLength, out bool echOffered, int maxBytes = DefaultMaxBytes)
    {
        namesLength = 0;
        echOffered = false;
        if (names.Length < MinNameListLength)
        {
            Debug.Assert(false, "names must hold 256 bytes.");
            return ClientHelloOutcome.Malformed;
        }

        var outcome = ParseCore(data, names, out var length, out var ech, maxBytes);
        if (outcome == ClientHelloOutcome.SniFound)
        {
            namesLength = length;
        }

        if (outcome is ClientHelloOutcome.SniFound or ClientHelloOutcome.NoSni)
        {
            echOffered = ech;
        }

        return outcome;
    }

    private static ClientHelloOutcome ParseCore(ReadOnlySpan<byte> data, Span<byte> names, out int namesLength, out bool echOffered, int maxBytes)
    {
        namesLength = 0;
        echOffered = false;
        var reader = new HandshakeReader(data, maxBytes);

        // Handshake header: msg_type(1) length(3). Bytes may arrive in separate records.
        if (!reader.TryReadByte(out var msgType))
        {
            return reader.Error;
        }

        if (msgType != HandshakeTypeClientHello)
        {
            return ClientHelloOutcome.NotTls;
        }

        if (!reader.TryReadUInt24(out var bodyLength))
        {
            return reader.Error;
        }

        var limitOutcome = reader.SetMessageLength(HandshakeHeaderLength + bodyLength);
        if (limitOutcome != ClientHelloOutcome.NeedMoreData)
        {
            return limitOutcome;
        }

        // From here every length is checked against the message end before it is read, so
        // running out of data always means NeedMoreData and an inconsistency always Malformed.
        var end = HandshakeHeaderLength + bodyLength;

        // client_version(2) random(32)
        if (!Skip(ref reader, end, 2 + 32, out var outcome))
        {
            return outcome;
        }

        // session_id<0..32>
        if (!ReadLength(ref reader, end, 1, out var sessionIdLength, out outcome))
        {
            return outcome;
        }

        if (sessionIdLength > 32)
        {
            return ClientHelloOutcome.Malformed;
        }

        if (!Skip(ref reader, end, sessionIdLength, out outcome))
        {
            return outcome;
        }

        // cipher_suites<2..2^16-2>
        if (!ReadLength(ref reader, end, 2, out var cipherSuitesLength, out outcome)
            || !Skip(ref reader, end, cipherSuitesLength, out outcome))
        {
            return outcome;
        }

        // compression_methods<1..2^8-1>
        if (!ReadLength(ref reader, end, 1, out var compressionLength, out outcome)
            || !Skip(ref reader, end, compressionLength, out outcome))
        {
            return outcome;
        }

        // SSL 3.0 / early TLS 1.0 hellos simply end here.
        if (reader.Consumed == end)
        {
            return ClientHelloOutcome.NoSni;
        }

        if (!ReadLength(ref reader, end, 2, out var extensionsLength, out outcome))
        {
            return outcome;
        }

        if (reader.Consumed + extensionsLength != end)
        {
            // Either the block runs past the message or bytes trail the last extension.
            return ClientHelloOutcome.Malformed;
        }

        var sawServerName = false;
        var found = false;
        while (reader.Consumed < end)
        {
            if (end - reader.Consumed < 4)
            {
                return ClientHelloOutcome.Malformed;
            }

            if (!reader.TryReadUInt16(out var extensionType) || !reader.TryReadUInt16(out var extensionLength))
            {
                return reader.Error;
            }

            if (extensionLength > end - reader.Consumed)
            {
                return ClientHelloOutcome.Malformed;
            }

            if (extensionType == ExtensionServerName)
            {
                if (sawServerName)
                {
                    return ClientHelloOutcome.Malformed;
                }

                sawServerName = true;
                if (!ReadServerName(ref reader, extensionLength, names, out found, out namesLength, out outcome))
                {
                    return outcome;
                }

                continue;
            }

            if (extensionType == ExtensionEncryptedClientHello)
            {
                echOffered = true;
            }

            if (!reader.TrySkip(extensionLength))
            {
                return reader.Error;
            }
        }

        return found ? ClientHelloOutcome.SniFound : ClientHelloOutcome.NoSni;
    }

    /// <summary>Reads the server_name extension body; false with an outcome when parsing must stop.</summary>
    private static bool ReadServerName(ref HandshakeReader reader, int extensionLength, Span<byte> names, out bool found, out int namesLength, out ClientHelloOutcome outcome)
    {
        found = false;
        namesLength = 0;
        outcome = ClientHelloOutcome.NeedMoreData;
        if (extensionLength == 0)
        {
            return true;
        }

        var extensionEnd = reader.Consumed + extensionLength;
        if (!ReadLength(ref reader, extensionEnd, 2, out var listLength, out outcome))
        {
            return false;
        }

        if (reader.Consumed + listLength != extensionEnd)
        {
            outcome = ClientHelloOutcome.Malformed;
            return false;
        }

        while (reader.Consumed < extensionEnd)
        {
            if (extensionEnd - reader.Consumed < 3)
            {
                outcome = ClientHelloOutcome.Malformed;
                return false;
            }

            if (!reader.TryReadByte(out var nameType) || !reader.TryReadUInt16(out var nameLength))
            {
                outcome = reader.Error;
                return false;
            }

            if (nameLength > extensionEnd - reader.Consumed)
            {
                outcome = ClientHelloOutcome.Malformed;
                return false;
            }

            if (nameType == NameTypeHostName && nameLength is > 0 and <= MaxHostNameLength && names.Length - namesLength > nameLength)
            {
                if (!reader.TryCopy(names.Slice(namesLength + 1, nameLength)))
                {
                    outcome = reader.Error;
                    return false;
                }

                names[namesLength] = (byte)nameLength;
                namesLength += 1 + nameLength;
                found = true;
                continue;
            }

            if (!reader.TrySkip(nameLength))
            {
                outcome = reader.Error;
                return false;
            }
        }

        return true;
    }

    private static bool Skip(ref HandshakeReader reader, int end, int count, out ClientHelloOutcome outcome)
    {
        if (count > end - reader.Consumed)
        {
            outcome = ClientHelloOutcome.Malformed;
            return false;
        }

        if (!reader.TrySkip(count))
        {
            outcome = reader.Error;
            return false;
        }

        outcome = ClientHelloOutcome.NeedMoreData;
        return true;
    }

    /// <summary>Reads a length prefix of <paramref name="width"/> bytes (1 or 2) that must fit before <paramref name="end"/>.</summary>
    private static bool ReadLength(ref HandshakeReader reader, int end, int width, out int value, out ClientHelloOutcome outcome)
    {
        value = 0;
        if (end - reader.Consumed < width)
        {
            outcome = ClientHelloOutcome.Malformed;
            return false;
        }

        bool read;
        if (width == 1)
        {
            read = reader.TryReadByte(out var b);
            value = b;
        }
        else
        {
            read = reader.TryReadUInt16(out var v);
            value = v;
        }

        outcome = read ? ClientHelloOutcome.NeedMoreData : reader.Error;
        return read;
    }

    /// <summary>
    /// Walks the handshake-message bytes carried by consecutive handshake records, stepping
    /// over record headers, so the message never has to be copied into one buffer.
    /// </summary>
    private ref struct HandshakeReader
    {
        private readonly ReadOnlySpan<byte> _data;
        private readonly int _maxBytes;
        private int _position;
        private int _recordRemaining;
        private int _recordCount;
        private int _messageLength;
        private bool _oversizeRecord;

        public HandshakeReader(ReadOnlySpan<byte> data, int maxBytes)
        {
            _data = data;
            _maxBytes = maxBytes;
            _messageLength = -1;
            Error = ClientHelloOutcome.NeedMoreData;
        }

        /// <summary>Why the last Try* call failed.</summary>
        public ClientHelloOutcome Error { get; private set; }

        /// <summary>Handshake-message bytes consumed so far, headers included.</summary>
        public int Consumed { get; private set; }

        /// <summary>
        /// Records the message length and decides TooLarge as early as possible: the lower bound
        /// of bytes needed is what has been read, plus the rest of the message, plus one header
        /// per 2^14 bytes that do not fit in the current record.
        /// </summary>
        public ClientHelloOutcome SetMessageLength(int messageLength)
        {
            _messageLength = messageLength;
            if (ExceedsLimit())
            {
                return ClientHelloOutcome.TooLarge;
            }

            // Deferred until now so a huge hello in one huge record reads as TooLarge.
            return _oversizeRecord ? ClientHelloOutcome.Malformed : ClientHelloOutcome.NeedMoreData;
        }

        public bool TryReadByte(out byte value)
        {
            if (!TryFill())
            {
                value = 0;
                return false;
            }

            value = _data[_position];
            Advance(1);
            return true;
        }

        public bool TryReadUInt16(out ushort value)
        {
            value = 0;
            if (_recordRemaining >= 2 && _data.Length - _position >= 2)
            {
                value = BinaryPrimitives.ReadUInt16BigEndian(_data.Slice(_position, 2));
                Advance(2);
                return true;
            }

            if (!TryReadByte(out var high) || !TryReadByte(out var low))
            {
                return false;
            }

            value = (ushort)((high << 8) | low);
            return true;
        }

        public bool TryReadUInt24(out int value)
        {
            value = 0;
            for (var i = 0; i < 3; i++)
            {
                if (!TryReadByte(out var b))
                {
                    return false;
                }

                value = (value << 8) | b;
            }

            return true;
        }

        public bool TrySkip(int count)
        {
            while (count > 0)
            {
                if (!TryFill())
                {
                    return false;
                }

                var chunk = Math.Min(count, Math.Min(_recordRemaining, _data.Length - _position));
                Advance(chunk);
                count -= chunk;
            }

            return true;
        }

        public bool TryCopy(Span<byte> destination)
        {
            while (!destination.IsEmpty)
            {
                if (!TryFill())
                {
                    return false;
                }

                var chunk = Math.Min(destination.Length, Math.Min(_recordRemaining, _data.Length - _position));
                _data.Slice(_position, chunk).CopyTo(destination);
                destination = destination[chunk..];
                Advance(chunk);
            }

            return true;
        }

        private void Advance(int count)
        {
            _position += count;
            _recordRemaining -= count;
            Consumed += count;
        }

        /// <summary>Makes sure at least one message byte is readable at <see cref="_position"/>.</summary>
        private bool TryFill()
        {
            while (_recordRemaining == 0)
            {
                if (!TryReadRecordHeader())
                {
                    return false;
                }
            }

            if (_position >= _maxBytes)
            {
                return Fail(ClientHelloOutcome.TooLarge);
            }

            return _position < _data.Length || Fail(ClientHelloOutcome.NeedMoreData);
        }

        private bool TryReadRecordHeader()
        {
            // The first record decides whether this is TLS at all; later ones can only be broken TLS.
            var wrong = _recordCount == 0 ? ClientHelloOutcome.NotTls : ClientHelloOutcome.Malformed;
            var available = _data.Length - _position;

            // Judge each header byte as soon as it arrives, so plain text fails on its first byte.
            for (var i = 0; i < RecordHeaderLength; i++)
            {
                if (_position + i >= _maxBytes)
                {
                    return Fail(ClientHelloOutcome.TooLarge);
                }

                if (i >= available)
                {
                    return Fail(ClientHelloOutcome.NeedMoreData);
                }

                var b = _data[_position + i];
                var bad = i switch
                {
                    0 => b != ContentTypeHandshake,
                    1 => b != 3,
                    2 => b > 4,
                    _ => false,
                };
                if (bad)
                {
                    return Fail(wrong);
                }
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(_data.Slice(_position + 3, 2));
            if (length == 0)
            {
                // RFC 8446 §5.1: zero-length handshake fragments MUST NOT be sent.
                return Fail(ClientHelloOutcome.Malformed);
            }

            _position += RecordHeaderLength;
            _recordRemaining = length;
            _recordCount++;
            if (length > MaxRecordPayload)
            {
                _oversizeRecord = true;
            }

            if (_messageLength >= 0)
            {
                if (ExceedsLimit())
                {
                    return Fail(ClientHelloOutcome.TooLarge);
                }

                if (_oversizeRecord)
                {
                    return Fail(ClientHelloOutcome.Malformed);
                }
            }

            return true;
        }

        private readonly bool ExceedsLimit()
        {
            long rest = _messageLength - Consumed;
            long uncovered = Math.Max(0, rest - _recordRemaining);
            long moreHeaders = (uncovered + MaxRecordPayload - 1) / MaxRecordPayload;
            return _position + rest + (moreHeaders * RecordHeaderLength) > _maxBytes;
        }

        private bool Fail(ClientHelloOutcome outcome)
        {
            Error = outcome;
            return false;
        }
    }
}
