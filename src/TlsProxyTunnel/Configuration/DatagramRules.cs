namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Which servers may lead to which upstreams once datagrams are involved: a UDP server only to a <c>udp://</c>
/// upstream or one that encapsulates (uotp-client); a <c>decapsulate</c> server only to <c>udp://</c> upstreams
/// (uotp-server); a stream server to neither, since it has no datagrams to give them.
/// </summary>
internal static class DatagramRules
{
    /// <summary>Keys of a TCP server that mean nothing to a UDP one (there is no byte stream to read a hello or header from).</summary>
    private static readonly string[] StreamOnlyServerKeys = ["tls", "terminate_tls", "sni", "transparent", "proxy_protocol", "decapsulate", "client_hello_max_bytes", "client_hello_timeout", "write_timeout", "via"];

    public static void Check(ServerConfig server, Section section, IEnumerable<ConfigMapper.UpstreamReference> uses, IReadOnlyDictionary<string, UpstreamConfig> upstreams, DiagnosticBag diagnostics)
    {
        var named = $"server {DiagnosticText.Quote(server.Name)}";
        if (server.IsUdp)
        {
            foreach (var key in StreamOnlyServerKeys)
            {
                if (section.Entry(key) is { } entry)
                {
                    diagnostics.Error(entry.Key.Start, $"{DiagnosticText.Quote(key)} of {named} does not apply to 'protocol: udp': a UDP server forwards datagrams to its default upstream; remove it");
                }
            }
        }
        else if (section.Entry("udp") is { } udp)
        {
            diagnostics.Error(udp.Key.Start, $"'udp' of {named} needs 'protocol: udp'");
        }

        if (server.Decapsulate != DatagramFraming.None && server.Tls && server.TerminateTls is null)
        {
            diagnostics.Error(section.Entry("decapsulate")!.Key.Start, $"'decapsulate' of {named} reads the session id and frames from the client's bytes, which 'tls: true' without 'terminate_tls' leaves encrypted: add 'terminate_tls' or remove 'tls'");
        }

        foreach (var use in uses)
        {
            if (!upstreams.TryGetValue(use.Name, out var upstream) || Problem(server, upstream) is not { } problem)
            {
                continue;
            }

            diagnostics.Error(use.Where, $"{use.Usage} names upstream {use.Shown}, {problem}");
        }
    }

    /// <summary>What is wrong with <paramref name="server"/> leading to <paramref name="upstream"/>; null when nothing.</summary>
    internal static string? Problem(ServerConfig server, UpstreamConfig upstream)
    {
        var datagramUpstream = upstream.Kind == UpstreamKind.Udp;
        var encapsulating = upstream.Encapsulate != DatagramFraming.None;
        if (server.IsUdp)
        {
            return datagramUpstream || encapsulating
                ? null
                : "which cannot take datagrams: a 'protocol: udp' server needs a udp:// upstream or one with 'encapsulate: uotp'";
        }

        if (server.Decapsulate != DatagramFraming.None)
        {
            return datagramUpstream ? null : "which is not a udp:// address: 'decapsulate' turns the client's frames into datagrams for a udp:// upstream";
        }

        if (datagramUpstream)
        {
            return "a udp:// address, but the server carries a byte stream: add 'decapsulate: uotp' (the clients speak udp-over-tls-pool) or use 'protocol: udp'";
        }

        return encapsulating ? "which encapsulates datagrams ('encapsulate'), but the server is not 'protocol: udp'" : null;
    }
}
