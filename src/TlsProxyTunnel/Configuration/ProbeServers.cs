namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Which servers serve probes only, and what limit they run under: one rule for the data path, the metrics and
/// <c>tpt check</c>. A server is probe-only when every route it can take leads to the built-in <c>health</c>
/// (without <c>tls</c> its <c>sni</c> routes are never taken, so only <c>default</c> decides). Such a server is not
/// held to <c>maxclients</c> (as in tls-proxy-tunnel) but to <see cref="ConnectionLimit"/>.
/// </summary>
internal static class ProbeServers
{
    /// <summary>Connections a probe-only server admits at once: probes and scrapers need a handful; the cap keeps a
    /// flood on the health port from taking the descriptors the relays need.</summary>
    public const int ConnectionLimit = 256;

    public static bool IsProbeOnly(ServerConfig server, IReadOnlyDictionary<string, UpstreamConfig> upstreams) =>
        IsHealth(server.Default, upstreams) && (!server.Tls || server.Sni.All(r => IsHealth(r.Upstream, upstreams)));

    /// <summary>The number of connections the server admits at once.</summary>
    public static int LimitOf(ServerConfig server, IReadOnlyDictionary<string, UpstreamConfig> upstreams) =>
        IsProbeOnly(server, upstreams) ? ConnectionLimit : server.MaxClients;

    private static bool IsHealth(string name, IReadOnlyDictionary<string, UpstreamConfig> upstreams) =>
        upstreams.TryGetValue(name, out var upstream) && upstream.Kind == UpstreamKind.Health;
}
