using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace TlsProxyTunnel.Connections;

/// <summary>The address a client meant to reach before netfilter redirected it here, or why it is not known.</summary>
internal readonly record struct OriginalDestinationResult(IPEndPoint? EndPoint, string? Error);

/// <summary>
/// Reads netfilter's original destination of an accepted socket: <c>SO_ORIGINAL_DST</c> (level <c>SOL_IP</c>) for IPv4,
/// <c>IP6T_SO_ORIGINAL_DST</c> (level <c>SOL_IPV6</c>) for IPv6; both are option 80 and answer with a sockaddr.
/// </summary>
internal static class OriginalDestinationLookup
{
    private const int SolIp = 0;
    private const int SolIpv6 = 41;
    private const int SoOriginalDst = 80;
    private const int SockaddrIn6Length = 28;

    public static OriginalDestinationResult Lookup(Socket socket)
    {
        if (!OperatingSystem.IsLinux())
        {
            return new(null, "transparent mode needs Linux netfilter");
        }

        if (socket.LocalEndPoint is not IPEndPoint local)
        {
            return new(null, "the socket has no local address");
        }

        // An IPv4 client on an IPv6 socket (a dual-stack listener) was tracked as IPv4: ask the IPv4 table.
        var v4 = local.AddressFamily == AddressFamily.InterNetwork || local.Address.IsIPv4MappedToIPv6;
        Span<byte> address = stackalloc byte[SockaddrIn6Length];
        int length;
        try
        {
            length = socket.GetRawSocketOption(v4 ? SolIp : SolIpv6, SoOriginalDst, address);
        }
        catch (SocketException e)
        {
            // ENOENT: conntrack has no entry for this connection (netfilter's nat table is not in use at all). An
            // exception, but only for a client that should not be here, which is closed right after.
            return new(null, $"no NAT entry ({e.SocketErrorCode}: {e.Message})");
        }
        catch (ObjectDisposedException)
        {
            return new(null, "the client is gone");
        }

        if (Parse(address[..length]) is not { } destination)
        {
            return new(null, $"the kernel answered a {length}-byte address tpt cannot read");
        }

        // Conntrack knows every connection once the nat table is loaded, so a client that connected straight to the
        // listener gets its own destination back: nothing was redirected, and relaying there would loop into tpt.
        if (Normalize(destination).Equals(Normalize(local)))
        {
            return new(null, $"the connection was not redirected (its destination is the listener's own address {local})");
        }

        return new(destination, null);
    }

    /// <summary>A <c>sockaddr_in</c> or <c>sockaddr_in6</c> as the kernel wrote it (family in host order, port in network order).</summary>
    internal static IPEndPoint? Parse(ReadOnlySpan<byte> sockaddr)
    {
        if (sockaddr.Length < 2)
        {
            return null;
        }

        var family = BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt16LittleEndian(sockaddr) : BinaryPrimitives.ReadUInt16BigEndian(sockaddr);
        switch (family)
        {
            case 2 when sockaddr.Length >= 8:
                return new IPEndPoint(new IPAddress(sockaddr.Slice(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]));
            case 10 when sockaddr.Length >= 24:
                var scope = sockaddr.Length >= SockaddrIn6Length ? BitConverter.ToUInt32(sockaddr.Slice(24, 4)) : 0;
                var address = new IPAddress(sockaddr.Slice(8, 16), scope);
                return new IPEndPoint(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address, BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]));
            default:
                return null;
        }
    }

    private static IPEndPoint Normalize(IPEndPoint endPoint) =>
        endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;
}
