namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Where a server's connections may go with <c>address: original_dst</c>: only where something told tpt the client's
/// original destination, and never where any client on the network could name one.
/// </summary>
internal static class OriginalDestinationRules
{
    /// <summary>Netfilter's NAT table says where the client was going (SO_ORIGINAL_DST): the kernel, not the client, decides.</summary>
    public static bool FromNetfilter(ServerConfig server) => server.Transparent;

    /// <summary><c>proxy_protocol: accept | require</c>: a PROXY header's destination feeds original_dst, and the client wrote it.</summary>
    public static bool FromProxyHeaders(ServerConfig server) => server.ProxyProtocol != ProxyProtocolAccept.Off;

    /// <summary>Only clients holding a certificate the server trusts get through (<c>terminate_tls.client_cert: require</c>).</summary>
    public static bool ClientsAuthenticated(ServerConfig server) =>
        server.TerminateTls is { ClientCertificate: ClientCertificateMode.Require };

    /// <summary>
    /// Checks every use of an original_dst upstream by <paramref name="server"/>: the references recorded while reading
    /// it (its default and SNI routes).
    /// </summary>
    public static void Check(ServerConfig server, IEnumerable<ConfigMapper.UpstreamReference> uses, IReadOnlyDictionary<string, UpstreamConfig> upstreams, DiagnosticBag diagnostics)
    {
        foreach (var use in uses)
        {
            if (!upstreams.TryGetValue(use.Name, out var upstream) || !upstream.ConnectsToOriginalDestination)
            {
                continue;
            }

            var via = use.Usage.StartsWith("'default'", StringComparison.Ordinal)
                ? server.Via
                : server.Sni.FirstOrDefault(r => r.Upstream == use.Name && (r.Via ?? server.Via) is { IsDirect: false }) is { } route ? route.Via ?? server.Via : ViaConfig.Direct;
            if (Problem(server.Name, use, FromNetfilter(server), FromProxyHeaders(server), ClientsAuthenticated(server), via.IsDirect) is { } problem)
            {
                diagnostics.Error(use.Where, problem);
            }
        }
    }

    /// <summary>What is wrong with one use of an original_dst upstream, from the facts about its server; null when nothing.</summary>
    internal static string? Problem(string server, ConfigMapper.UpstreamReference use, bool fromNetfilter, bool fromProxyHeaders, bool clientsAuthenticated, bool direct)
    {
        var named = $"{use.Usage} names upstream {use.Shown}, whose address is original_dst";
        if (!fromNetfilter && !fromProxyHeaders)
        {
            return $"{named}, but server {DiagnosticText.Quote(server)} has no original destination to give it: set 'transparent: true' (netfilter NAT redirects clients to this server) or accept PROXY headers ('proxy_protocol: accept' or 'require')";
        }

        if (fromProxyHeaders && !clientsAuthenticated)
        {
            return $"{named}, and server {DiagnosticText.Quote(server)} takes the destination from PROXY headers: any client that can reach it could name any address and port to be connected to (an open proxy). Require client certificates ('terminate_tls' with 'client_cert: require') so that only trusted clients can send the header";
        }

        return direct ? null : $"{named}, through a 'via': the via's CONNECT target would replace the original destination; remove the 'via' for this route";
    }
}
