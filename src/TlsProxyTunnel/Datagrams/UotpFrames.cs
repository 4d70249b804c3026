using System.Buffers;
using System.Buffers.Binary;

namespace TlsProxyTunnel.Datagrams;

/// <summary>
/// udp-over-tls-pool's wire format: each connection starts with the 16 bytes of its session's UUID (RFC 4122 byte
/// order), then both directions carry only frames, a 2-byte big-endian length and that many bytes, one per datagram.
/// </summary>
internal static class UotpFrames
{
    public const int SessionIdLength = 16;

    public const int HeaderLength = 2;

    /// <summary>What a 2-byte length can say.</summary>
    public const int MaxFrame = ushort.MaxValue;

    /// <summary>The largest UDP payload over IPv4 (65535 - 20 - 8); over IPv6 65527, which a frame also holds.</summary>
    public const int MaxIpv4Datagram = 65507;

    /// <summary>A fresh version-4 UUID in RFC 4122 (big-endian) byte order, as Python's <c>uuid4().bytes</c>.</summary>
    public static void NewSessionId(Span<byte> destination)
    {
        Guid.NewGuid().TryWriteBytes(destination, bigEndian: true, out _);
    }

    public static string Describe(ReadOnlySpan<byte> sessionId) => new Guid(sessionId, bigEndian: true).ToString();

    /// <summary>Writes the length header in front of a payload already in place at <see cref="HeaderLength"/>.</summary>
    public static void WriteHeader(Span<byte> frame, int payloadLength) =>
        BinaryPrimitives.WriteUInt16BigEndian(frame, checked((ushort)payloadLength));
}

/// <summary>
/// One datagram on its way into a stream, already framed: a buffer rented from the shared pool holding the
/// 2-byte header and the payload. Whoever takes it from a queue returns it (<see cref="Return"/>) once written.
/// </summary>
internal readonly struct OutboundFrame(byte[] buffer, int payloadLength)
{
    public byte[] Buffer { get; } = buffer;

    public int PayloadLength { get; } = payloadLength;

    public ReadOnlyMemory<byte> Frame => Buffer.AsMemory(0, UotpFrames.HeaderLength + PayloadLength);

    public ReadOnlySpan<byte> Payload => Buffer.AsSpan(UotpFrames.HeaderLength, PayloadLength);

    /// <summary>Copies <paramref name="payload"/> into a pooled buffer behind its header.</summary>
    public static OutboundFrame Create(ReadOnlySpan<byte> payload)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(UotpFrames.HeaderLength + payload.Length);
        UotpFrames.WriteHeader(buffer, payload.Length);
        payload.CopyTo(buffer.AsSpan(UotpFrames.HeaderLength));
        return new OutboundFrame(buffer, payload.Length);
    }

    public void Return() => ArrayPool<byte>.Shared.Return(Buffer);
}
