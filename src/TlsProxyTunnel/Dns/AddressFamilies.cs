using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Dns;

/// <summary>What <see cref="AddressFamilyFilter"/> keeps, in which order, and how it is named in messages.</summary>
internal static class AddressFamilies
{
    public static bool Matches(IPAddress address, AddressFamilyFilter family) => family switch
    {
        AddressFamilyFilter.V4 => address.AddressFamily == AddressFamily.InterNetwork,
        AddressFamilyFilter.V6 => address.AddressFamily == AddressFamily.InterNetworkV6,
        _ => true,
    };

    /// <summary>
    /// The addresses <paramref name="family"/> allows, IPv4 first: the common case for proxies and backends, and it
    /// avoids stalls on hosts whose IPv6 route is advertised but broken; fail-over still reaches IPv6.
    /// </summary>
    public static List<IPAddress> Keep(IEnumerable<IPAddress> addresses, AddressFamilyFilter family)
    {
        var kept = addresses.Where(a => Matches(a, family)).ToList();
        return [.. kept.Where(a => a.AddressFamily == AddressFamily.InterNetwork), .. kept.Where(a => a.AddressFamily != AddressFamily.InterNetwork)];
    }

    public static AddressFamily ToAddressFamily(AddressFamilyFilter family) => family switch
    {
        AddressFamilyFilter.V4 => AddressFamily.InterNetwork,
        AddressFamilyFilter.V6 => AddressFamily.InterNetworkV6,
        _ => AddressFamily.Unspecified,
    };

    public static string Text(AddressFamilyFilter family) => family switch
    {
        AddressFamilyFilter.V4 => "IPv4",
        AddressFamilyFilter.V6 => "IPv6",
        _ => "IPv4/IPv6",
    };

    public static string Name(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetwork ? "IPv4" : "IPv6";
}
