using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace TlsProxyTunnel.ProxyProtocol;

/// <summary>
/// Parses a PROXY protocol header (HAProxy's specification, versions 1 and 2) from the first bytes a peer sent.
/// Pure and total: any input gives a verdict, nothing throws, nothing is read past the header, and a verdict
/// other than <see cref="ProxyProtocolStatus.NeedMoreData"/> never changes as more bytes arrive.
/// </summary>
internal static class ProxyProtocolParser
{
    /// <summary>The longest v1 header, CRLF included (the specification's worst case, TCP6 with full addresses).</summary>
    public const int MaxV1Length = 107;

    /// <summary>The fixed part of a v2 header: signature, version and command, family, length.</summary>
    public const int V2FixedLength = 16;

    /// <summary>The longest v2 header the 16-bit length allows.</summary>
    public const int MaxV2Length = V2FixedLength + ushort.MaxValue;

    private const int InetBlock = 12;
    private const int Inet6Block = 36;
    private const int UnixBlock = 216;

    public static ReadOnlySpan<byte> V1Prefix => "PROXY "u8;

    public static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    public static ProxyProtocolParse Parse(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return ProxyProtocolParse.NeedMoreData;
        }

        if (StartsAs(data, V1Prefix))
        {
            return data.Length < V1Prefix.Length ? ProxyProtocolParse.NeedMoreData : ParseV1(data);
        }

        if (StartsAs(data, V2Signature))
        {
            return data.Length < V2FixedLength ? ProxyProtocolParse.NeedMoreData : ParseV2(data);
        }

        return ProxyProtocolParse.Absent;
    }

    /// <summary>The data so far agrees with <paramref name="signature"/> over their common length.</summary>
    private static bool StartsAs(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        var n = Math.Min(data.Length, signature.Length);
        return data[..n].SequenceEqual(signature[..n]);
    }

    private static ProxyProtocolParse ParseV1(ReadOnlySpan<byte> data)
    {
        var window = data[..Math.Min(data.Length, MaxV1Length)];
        var lf = window.IndexOf((byte)'\n');

        // Checked over what has arrived, so garbage is refused at once rather than after 107 bytes or a timeout.
        var body = lf < 0 ? window : window[..lf];
        for (var i = 0; i < body.Length; i++)
        {
            var b = body[i];
            if (b == '\r' && i != body.Length - 1)
            {
                return ProxyProtocolParse.Invalid("v1: CR not followed by LF");
            }

            if (b != '\r' && b is < 0x20 or > 0x7E)
            {
                return ProxyProtocolParse.Invalid("v1: a byte that is not printable ASCII");
            }
        }

        if (lf < 0)
        {
            return window.Length == MaxV1Length ? ProxyProtocolParse.Invalid("v1: no CRLF within 107 bytes") : ProxyProtocolParse.NeedMoreData;
        }

        if (lf == 0 || window[lf - 1] != '\r')
        {
            return ProxyProtocolParse.Invalid("v1: line ends in LF without CR");
        }

        var line = window[V1Prefix.Length..(lf - 1)];
        var length = lf + 1;
        var space = line.IndexOf((byte)' ');
        var family = space < 0 ? line : line[..space];
        if (family.SequenceEqual("UNKNOWN"u8))
        {
            // The specification has the receiver ignore whatever follows UNKNOWN up to the CRLF.
            return new ProxyProtocolParse(ProxyProtocolStatus.Header, new ProxyProtocolHeader(1, ProxyCommand.Proxy, ProxyAddressFamily.Unspecified, ProxyTransport.Unspecified, null, null), length);
        }

        AddressFamily addressFamily;
        if (family.SequenceEqual("TCP4"u8))
        {
            addressFamily = AddressFamily.InterNetwork;
        }
        else if (family.SequenceEqual("TCP6"u8))
        {
            addressFamily = AddressFamily.InterNetworkV6;
        }
        else
        {
            return ProxyProtocolParse.Invalid("v1: the protocol is not TCP4, TCP6 or UNKNOWN");
        }

        // Exactly four fields after the family, each separated by one space.
        var rest = line[(space + 1)..];
        Span<Range> fields = stackalloc Range[5];
        if (space < 0 || Split(rest, (byte)' ', fields) != 4)
        {
            return ProxyProtocolParse.Invalid("v1: expected 'PROXY TCP4|TCP6 source destination source-port destination-port'");
        }

        if (!TryParseAddress(rest[fields[0]], addressFamily, out var source) || !TryParseAddress(rest[fields[1]], addressFamily, out var destination))
        {
            return ProxyProtocolParse.Invalid(addressFamily == AddressFamily.InterNetwork ? "v1: an address is not a dotted-quad IPv4 address" : "v1: an address is not an IPv6 address");
        }

        if (!TryParsePort(rest[fields[2]], out var sourcePort) || !TryParsePort(rest[fields[3]], out var destinationPort))
        {
            return ProxyProtocolParse.Invalid("v1: a port is not a number from 0 to 65535 without leading zeros");
        }

        return new ProxyProtocolParse(
            ProxyProtocolStatus.Header,
            new ProxyProtocolHeader(1, ProxyCommand.Proxy, addressFamily == AddressFamily.InterNetwork ? ProxyAddressFamily.Inet : ProxyAddressFamily.Inet6, ProxyTransport.Stream, new IPEndPoint(source!, sourcePort), new IPEndPoint(destination!, destinationPort)),
            length);
    }

    private static bool TryParseAddress(ReadOnlySpan<byte> text, AddressFamily family, out IPAddress? address)
    {
        address = null;
        if (family == AddressFamily.InterNetwork)
        {
            // inet_pton's rules: four decimal octets, no leading zeros (which other parsers read as octal).
            Span<byte> octets = stackalloc byte[4];
            Span<Range> parts = stackalloc Range[5];
            if (Split(text, (byte)'.', parts) != 4)
            {
                return false;
            }

            for (var i = 0; i < 4; i++)
            {
                if (!TryParseDecimal(text[parts[i]], 3, 255, out var octet))
                {
                    return false;
                }

                octets[i] = (byte)octet;
            }

            address = new IPAddress(octets);
            return true;
        }

        // Hex digits, colons and dots (an embedded IPv4) only: no zone index, no brackets, nothing IPAddress would forgive.
        if (text.IsEmpty || text.Length > 45)
        {
            return false;
        }

        Span<char> chars = stackalloc char[45];
        for (var i = 0; i < text.Length; i++)
        {
            var c = (char)text[i];
            if (!(char.IsAsciiHexDigit(c) || c is ':' or '.'))
            {
                return false;
            }

            chars[i] = c;
        }

        return IPAddress.TryParse(chars[..text.Length], out address) && address.AddressFamily == AddressFamily.InterNetworkV6;
    }

    /// <summary>Splits on every <paramref name="separator"/>, up to <paramref name="ranges"/>' length (the last takes the rest); returns the count.</summary>
    private static int Split(ReadOnlySpan<byte> text, byte separator, Span<Range> ranges)
    {
        var count = 0;
        var start = 0;
        while (count < ranges.Length - 1)
        {
            var at = text[start..].IndexOf(separator);
            if (at < 0)
            {
                break;
            }

            ranges[count++] = start..(start + at);
            start += at + 1;
        }

        ranges[count++] = start..text.Length;
        return count;
    }

    private static bool TryParsePort(ReadOnlySpan<byte> text, out int port) => TryParseDecimal(text, 5, 65535, out port);

    private static bool TryParseDecimal(ReadOnlySpan<byte> text, int maxDigits, int maximum, out int value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > maxDigits || (text.Length > 1 && text[0] == '0'))
        {
            return false;
        }

        foreach (var b in text)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            value = (value * 10) + (b - '0');
        }

        return value <= maximum;
    }

    private static ProxyProtocolParse ParseV2(ReadOnlySpan<byte> data)
    {
        var versionCommand = data[12];
        if (versionCommand >> 4 != 2)
        {
            return ProxyProtocolParse.Invalid("v2: the version is not 2");
        }

        var command = (versionCommand & 0x0F) switch
        {
            0 => ProxyCommand.Local,
            1 => ProxyCommand.Proxy,
            _ => (ProxyCommand?)null,
        };
        if (command is null)
        {
            return ProxyProtocolParse.Invalid("v2: the command is neither LOCAL nor PROXY");
        }

        var familyByte = data[13];
        var (family, block) = (familyByte >> 4) switch
        {
            0 => (ProxyAddressFamily.Unspecified, 0),
            1 => (ProxyAddressFamily.Inet, InetBlock),
            2 => (ProxyAddressFamily.Inet6, Inet6Block),
            3 => (ProxyAddressFamily.Unix, UnixBlock),
            _ => ((ProxyAddressFamily?)null, 0),
        };
        var transport = (familyByte & 0x0F) switch
        {
            0 => ProxyTransport.Unspecified,
            1 => ProxyTransport.Stream,
            2 => ProxyTransport.Datagram,
            _ => (ProxyTransport?)null,
        };
        if (family is null || transport is null)
        {
            return ProxyProtocolParse.Invalid("v2: an address family or transport the specification does not define");
        }

        var declared = BinaryPrimitives.ReadUInt16BigEndian(data.Slice(14, 2));
        if (declared < block)
        {
            return ProxyProtocolParse.Invalid("v2: the length is shorter than the address block of its family");
        }

        var total = V2FixedLength + declared;
        if (data.Length < total)
        {
            return ProxyProtocolParse.NeedMoreData;
        }

        // TLVs fill the rest exactly: type, 16-bit length, value. None is needed here; each is bounds-checked and skipped.
        var tlvs = data[(V2FixedLength + block)..total];
        while (!tlvs.IsEmpty)
        {
            if (tlvs.Length < 3 || 3 + BinaryPrimitives.ReadUInt16BigEndian(tlvs.Slice(1, 2)) > tlvs.Length)
            {
                return ProxyProtocolParse.Invalid("v2: a TLV runs past the end of the header");
            }

            tlvs = tlvs[(3 + BinaryPrimitives.ReadUInt16BigEndian(tlvs.Slice(1, 2)))..];
        }

        IPEndPoint? source = null;
        IPEndPoint? destination = null;
        var addresses = data.Slice(V2FixedLength, block);
        if (family == ProxyAddressFamily.Inet)
        {
            source = new IPEndPoint(new IPAddress(addresses[..4]), BinaryPrimitives.ReadUInt16BigEndian(addresses.Slice(8, 2)));
            destination = new IPEndPoint(new IPAddress(addresses.Slice(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(addresses.Slice(10, 2)));
        }
        else if (family == ProxyAddressFamily.Inet6)
        {
            source = new IPEndPoint(new IPAddress(addresses[..16]), BinaryPrimitives.ReadUInt16BigEndian(addresses.Slice(32, 2)));
            destination = new IPEndPoint(new IPAddress(addresses.Slice(16, 16)), BinaryPrimitives.ReadUInt16BigEndian(addresses.Slice(34, 2)));
        }

        return new ProxyProtocolParse(ProxyProtocolStatus.Header, new ProxyProtocolHeader(2, command.Value, family.Value, transport.Value, source, destination), total);
    }
}
