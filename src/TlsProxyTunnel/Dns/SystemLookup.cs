using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Dns;

/// <summary>
/// The system resolver (getaddrinfo: nsswitch, mDNS, …), asked last when no name server is configured in the
/// settings and DNS gave nothing. With explicit name servers it is not asked: the user chose those servers.
/// </summary>
internal static class SystemLookup
{
    /// <summary>The addresses <paramref name="family"/> allows (IPv4 first), or why there are none.</summary>
    public static async Task<(List<IPAddress> Addresses, string? Error)> QueryAsync(string name, AddressFamilyFilter family, CancellationToken ct)
    {
        try
        {
            var addresses = await System.Net.Dns.GetHostAddressesAsync(name, AddressFamilies.ToAddressFamily(family), ct);
            var kept = AddressFamilies.Keep(addresses, family);
            return (kept, kept.Count > 0 ? null : "no address");
        }
        catch (SocketException ex)
        {
            // getaddrinfo's text ("Name or service not known") does not quote the name.
            return ([], ex.Message);
        }
        catch (OperationCanceledException)
        {
            // Reported by the caller as the timeout.
            return ([], null);
        }
    }
}
