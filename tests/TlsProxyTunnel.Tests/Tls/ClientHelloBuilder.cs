using System.Buffers.Binary;
using System.Text;

namespace TlsProxyTunnel.Tests.Tls;

/// <summary>
/// Composes ClientHello messages and their record framing byte by byte, including the broken
/// shapes real parsers have tripped over, so each corpus case states exactly what differs.
/// </summary>
internal sealed class ClientHelloBuilder
{
    public const ushort ExtServerName = 0x0000;
    public const ushort ExtStatusRequest = 0x0005;
    public const ushort ExtSupportedGroups = 0x000a;
    public const ushort ExtEcPointFormats = 0x000b;
    public const ushort ExtSignatureAlgorithms = 0x000d;
    public const ushort ExtHeartbeat = 0x000f;
    public const ushort ExtAlpn = 0x0010;
    public const ushort ExtPadding = 0x0015;
    public const ushort ExtExtendedMasterSecret = 0x0017;
    public const ushort ExtSessionTicket = 0x0023;
    public const ushort ExtSupportedVersions = 0x002b;
    public const ushort ExtPskKeyExchangeModes = 0x002d;
    public const ushort ExtKeyShare = 0x0033;
    public const ushort ExtEncryptedClientHello = 0xfe0d;
    public const ushort ExtRenegotiationInfo = 0xff01;
    public const ushort GroupX25519 = 0x001d;
    public const ushort GroupX25519MlKem768 = 0x11ec;

    private readonly List<(ushort Type, byte[] Data)> _extensions = [];

    public byte HandshakeType { get; set; } = 0x01;

    public ushort ClientVersion { get; set; } = 0x0303;

    public ushort RecordVersion { get; set; } = 0x0301;

    public byte[] SessionId { get; set; } = Filled(32, 0x5a);

    public ushort[] CipherSuites { get; set; } = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f];

    public byte[] CompressionMethods { get; set; } = [0x00];

    /// <summary>SSL 3.0 style: no extensions block at all (not even its length).</summary>
    public bool OmitExtensionsBlock { get; set; }

    /// <summary>Added to the true handshake body length (negative = "short hello").</summary>
    public int HandshakeLengthDelta { get; set; }

    /// <summary>Replaces the true extensions block length.</summary>
    public int? ExtensionsLengthOverride { get; set; }

    /// <summary>Bytes appended inside the handshake message after the extensions (counted in its length).</summary>
    public byte[] TrailingBodyBytes { get; set; } = [];

    /// <summary>A Chrome-like TLS 1.3 hello: GREASE, SNI, the usual extensions and an X25519 key share.</summary>
    public static ClientHelloBuilder Browser(string host) =>
        new ClientHelloBuilder()
            .WithGrease(0x0a0a)
            .WithServerName(host)
            .WithExtension(ExtExtendedMasterSecret, [])
            .WithExtension(ExtRenegotiationInfo, [0x00])
            .WithExtension(ExtSupportedGroups, U16Vector(U16s(0x2a2a, GroupX25519, 0x0017, 0x0018)))
            .WithExtension(ExtEcPointFormats, [0x01, 0x00])
            .WithExtension(ExtSessionTicket, [])
            .WithExtension(ExtAlpn, U16Vector(Concat(U8Vector("h2"u8.ToArray()), U8Vector("http/1.1"u8.ToArray()))))
            .WithExtension(ExtStatusRequest, [0x01, 0x00, 0x00, 0x00, 0x00])
            .WithExtension(ExtSignatureAlgorithms, U16Vector(U16s(0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501)))
            .WithKeyShare((0x2a2a, [0x00]), (GroupX25519, Filled(32, 0x11)))
            .WithExtension(ExtPskKeyExchangeModes, [0x01, 0x01])
            .WithExtension(ExtSupportedVersions, U8Vector(U16s(0x3a3a, 0x0304, 0x0303)))
            .WithGrease(0x4a4a, [0x00]);

    /// <summary>A post-quantum hello (X25519MLKEM768 share of 1216 bytes), about 1.8 KB.</summary>
    public static ClientHelloBuilder PostQuantum(string host) =>
        new ClientHelloBuilder()
            .WithGrease(0x0a0a)
            .WithServerName(host)
            .WithExtension(ExtSupportedGroups, U16Vector(U16s(0x2a2a, GroupX25519MlKem768, GroupX25519, 0x0017)))
            .WithExtension(ExtAlpn, U16Vector(Concat(U8Vector("h2"u8.ToArray()), U8Vector("http/1.1"u8.ToArray()))))
            .WithExtension(ExtSignatureAlgorithms, U16Vector(U16s(0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501)))
            .WithKeyShare((0x2a2a, [0x00]), (GroupX25519MlKem768, Filled(1216, 0x6b)), (GroupX25519, Filled(32, 0x11)))
            .WithExtension(ExtSupportedVersions, U8Vector(U16s(0x3a3a, 0x0304, 0x0303)))
            .WithEch(payloadLength: 186)
            .WithGrease(0x4a4a, [0x00]);

    public ClientHelloBuilder WithExtension(ushort type, byte[] data)
    {
        _extensions.Add((type, data));
        return this;
    }

    public ClientHelloBuilder InsertExtension(int index, ushort type, byte[] data)
    {
        _extensions.Insert(index, (type, data));
        return this;
    }

    public ClientHelloBuilder WithServerName(string host) =>
        WithServerNameEntries((0, Encoding.Latin1.GetBytes(host)));

    /// <summary>server_name extension with the given (name_type, name) entries, in order.</summary>
    public ClientHelloBuilder WithServerNameEntries(params (byte Type, byte[] Name)[] entries)
    {
        var list = new List<byte>();
        foreach (var (type, name) in entries)
        {
            list.Add(type);
            list.AddRange(U16(name.Length));
            list.AddRange(name);
        }

        return WithExtension(ExtServerName, U16Vector([.. list]));
    }

    public ClientHelloBuilder WithGrease(ushort type, byte[]? data = null) => WithExtension(type, data ?? []);

    public ClientHelloBuilder WithKeyShare(params (ushort Group, byte[] Key)[] shares)
    {
        var entries = new List<byte>();
        foreach (var (group, key) in shares)
        {
            entries.AddRange(U16(group));
            entries.AddRange(U16Vector(key));
        }

        return WithExtension(ExtKeyShare, U16Vector([.. entries]));
    }

    /// <summary>An outer encrypted_client_hello: type, HPKE suite, config id, enc and payload.</summary>
    public ClientHelloBuilder WithEch(int payloadLength)
    {
        var data = Concat([0x00], U16s(0x0001, 0x0001), [0x2c], U16Vector(Filled(32, 0x33)), U16Vector(Filled(payloadLength, 0x44)));
        return WithExtension(ExtEncryptedClientHello, data);
    }

    /// <summary>Appends a padding extension so the handshake message is exactly <paramref name="messageSize"/> bytes.</summary>
    public ClientHelloBuilder WithPaddingTo(int messageSize)
    {
        var padding = messageSize - BuildMessage().Length - 4;
        if (padding < 0)
        {
            throw new InvalidOperationException($"Hello is already larger than {messageSize} bytes.");
        }

        return WithExtension(ExtPadding, new byte[padding]);
    }

    /// <summary>The handshake message: type, 24-bit length, body.</summary>
    public byte[] BuildMessage()
    {
        var body = new List<byte>();
        body.AddRange(U16(ClientVersion));
        body.AddRange(Filled(32, 0x72));
        body.Add((byte)SessionId.Length);
        body.AddRange(SessionId);
        body.AddRange(U16(CipherSuites.Length * 2));
        foreach (var suite in CipherSuites)
        {
            body.AddRange(U16(suite));
        }

        body.Add((byte)CompressionMethods.Length);
        body.AddRange(CompressionMethods);
        if (!OmitExtensionsBlock)
        {
            var extensions = new List<byte>();
            foreach (var (type, data) in _extensions)
            {
                extensions.AddRange(U16(type));
                extensions.AddRange(U16(data.Length));
                extensions.AddRange(data);
            }

            body.AddRange(U16(ExtensionsLengthOverride ?? extensions.Count));
            body.AddRange(extensions);
        }

        body.AddRange(TrailingBodyBytes);
        var length = body.Count + HandshakeLengthDelta;
        return [HandshakeType, (byte)(length >> 16), (byte)(length >> 8), (byte)length, .. body];
    }

    /// <summary>The hello framed in records of at most <paramref name="recordSize"/> bytes.</summary>
    public byte[] Build(int recordSize = 16384) => Frame(BuildMessage(), recordSize, RecordVersion);

    public static byte[] Frame(ReadOnlySpan<byte> message, int recordSize, ushort recordVersion = 0x0301, byte contentType = 0x16)
    {
        var output = new List<byte>(message.Length + (5 * ((message.Length / recordSize) + 1)));
        for (var offset = 0; offset < message.Length; offset += recordSize)
        {
            var chunk = message.Slice(offset, Math.Min(recordSize, message.Length - offset));
            output.AddRange(RecordHeader(contentType, recordVersion, chunk.Length));
            output.AddRange(chunk);
        }

        return [.. output];
    }

    /// <summary>The hello framed in records of the given sizes, in order (they must add up).</summary>
    public static byte[] Frame(ReadOnlySpan<byte> message, IReadOnlyList<int> recordSizes, ushort recordVersion = 0x0301)
    {
        var output = new List<byte>();
        var offset = 0;
        foreach (var size in recordSizes)
        {
            output.AddRange(RecordHeader(0x16, recordVersion, size));
            output.AddRange(message.Slice(offset, size));
            offset += size;
        }

        if (offset != message.Length)
        {
            throw new ArgumentException("Record sizes must add up to the message length.", nameof(recordSizes));
        }

        return [.. output];
    }

    public static byte[] RecordHeader(byte contentType, ushort version, int length) =>
        [contentType, (byte)(version >> 8), (byte)version, (byte)(length >> 8), (byte)length];

    public static byte[] U16(int value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)value);
        return bytes;
    }

    public static byte[] U16s(params ushort[] values) => [.. values.SelectMany(v => U16(v))];

    public static byte[] U8Vector(byte[] data) => [(byte)data.Length, .. data];

    public static byte[] U16Vector(byte[] data) => [.. U16(data.Length), .. data];

    public static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    public static byte[] Filled(int length, byte value)
    {
        var bytes = new byte[length];
        Array.Fill(bytes, value);
        return bytes;
    }
}
