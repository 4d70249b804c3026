using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TlsProxyTunnel.ProxyProtocol;

/// <summary>The PROXY protocol version an upstream is sent (<c>proxy_protocol: v1 | v2</c>).</summary>
internal enum ProxyProtocolVersion
{
    V1,
    V2,
}

/// <summary>
/// Writes the PROXY header tpt sends an upstream. Both ends are written in one family, which the specification
/// requires and ptw gets wrong (<c>PROXY TCP4 192.0.2.10 2001:db8::2 …</c>): an IPv4-mapped IPv6 address is
/// written as the IPv4 address it is (a dual-stack listener sees IPv4 clients that way), and a pair that is still
/// mixed is written as TCP6 / AF_INET6 with the IPv4 end as <c>::ffff:a.b.c.d</c>, as HAProxy does. Without an IP
/// address at either end the header says so: v1 <c>UNKNOWN</c>, v2 PROXY with AF_UNSPEC and no addresses.
/// </summary>
internal static class ProxyProtocolWriter
{
    /// <summary>Enough for any header written here (the longest is a v1 TCP6 line, 104 bytes).</summary>
    public const int MaxLength = ProxyProtocolParser.MaxV1Length;

    /// <summary>Writes the header into <paramref name="destination"/> (at least <see cref="MaxLength"/> bytes) and returns its length.</summary>
    public static int Write(ProxyProtocolVersion version, EndPoint? source, EndPoint? target, Span<byte> destination)
    {
        var pair = Normalise(source, target);
        return version == ProxyProtocolVersion.V1 ? WriteV1(pair, destination) : WriteV2(pair, destination);
    }

    /// <summary>A freshly allocated header, for a connection to send once.</summary>
    public static byte[] Create(ProxyProtocolVersion version, EndPoint? source, EndPoint? target)
    {
        Span<byte> buffer = stackalloc byte[MaxLength];
        return buffer[..Write(version, source, target, buffer)].ToArray();
    }

    /// <summary>Both ends in one family, without zone indexes; null when either end has no IP address.</summary>
    internal static (IPEndPoint Source, IPEndPoint Target)? Normalise(EndPoint? source, EndPoint? target)
    {
        if (source is not IPEndPoint s || target is not IPEndPoint t)
        {
            return null;
        }

        var sa = Plain(s.Address);
        var ta = Plain(t.Address);
        if (sa.AddressFamily != ta.AddressFamily)
        {
            sa = sa.MapToIPv6();
            ta = ta.MapToIPv6();
        }

        return (new IPEndPoint(sa, s.Port), new IPEndPoint(ta, t.Port));
    }

    private static IPAddress Plain(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        // A zone index means something only on this host; the header carries the address alone.
        return address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0 ? new IPAddress(address.GetAddressBytes()) : address;
    }

    private static int WriteV1((IPEndPoint Source, IPEndPoint Target)? pair, Span<byte> destination)
    {
        if (pair is not var (source, target))
        {
            return Encoding.ASCII.GetBytes("PROXY UNKNOWN\r\n", destination);
        }

        var family = source.AddressFamily == AddressFamily.InterNetwork ? "TCP4" : "TCP6";
        return Encoding.ASCII.GetBytes($"PROXY {family} {source.Address} {target.Address} {source.Port} {target.Port}\r\n", destination);
    }

    private static int WriteV2((IPEndPoint Source, IPEndPoint Target)? pair, Span<byte> destination)
    {
        ProxyProtocolParser.V2Signature.CopyTo(destination);
        destination[12] = 0x21; // version 2, PROXY
        if (pair is not var (source, target))
        {
            destination[13] = 0x00; // AF_UNSPEC: the receiver uses its own view of the connection
            BinaryPrimitives.WriteUInt16BigEndian(destination[14..], 0);
            return ProxyProtocolParser.V2FixedLength;
        }

        var size = source.AddressFamily == AddressFamily.InterNetwork ? 4 : 16;
        destination[13] = (byte)(size == 4 ? 0x11 : 0x21); // AF_INET or AF_INET6, STREAM
        BinaryPrimitives.WriteUInt16BigEndian(destination[14..], (ushort)((2 * size) + 4));
        var body = destination[ProxyProtocolParser.V2FixedLength..];
        source.Address.TryWriteBytes(body, out _);
        target.Address.TryWriteBytes(body[size..], out _);
        BinaryPrimitives.WriteUInt16BigEndian(body[(2 * size)..], (ushort)source.Port);
        BinaryPrimitives.WriteUInt16BigEndian(body[((2 * size) + 2)..], (ushort)target.Port);
        return ProxyProtocolParser.V2FixedLength + (2 * size) + 4;
    }
}
