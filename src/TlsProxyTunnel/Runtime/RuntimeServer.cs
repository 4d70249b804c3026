using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections.Stages;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Routing;

namespace TlsProxyTunnel.Runtime;

/// <summary>A server as the data path sees it: immutable apart from its shared limiter and counters.</summary>
internal sealed class RuntimeServer(ServerConfig config, SniRouter<Route> router, Route defaultRoute, ConnectionLimiter limiter, ServerMetrics metrics, bool probeOnly, IReadOnlyList<IClientStage> clientStages)
{
    public ServerConfig Config { get; } = config;

    /// <summary>
    /// Every route of this server leads to <c>health</c>: it serves probes only. Such a server is not held to
    /// <c>maxclients</c> (as in tls-proxy-tunnel) but to <see cref="ProbeServers.ConnectionLimit"/>,
    /// its listeners stay open through the shutdown drain, and the drain does not wait for its connections.
    /// </summary>
    public bool ProbeOnly { get; } = probeOnly;

    /// <summary>How many connections the server admits at once.</summary>
    public int ConnectionLimit => ProbeOnly ? ProbeServers.ConnectionLimit : Config.MaxClients;

    public string Name => Config.Name;

    public SniRouter<Route> Router { get; } = router;

    public Route DefaultRoute { get; } = defaultRoute;

    /// <summary>Every route in file order, the default last (for the status page; the data path uses <see cref="Select"/>).</summary>
    public IReadOnlyList<Route> Routes { get; init; } = [defaultRoute];

    public ConnectionLimiter Limiter { get; } = limiter;

    public ServerMetrics Metrics { get; } = metrics;

    /// <summary>What a client goes through before its route's upstream serves it: read the hello, route, terminate TLS.</summary>
    public IReadOnlyList<IClientStage> ClientStages { get; } = clientStages;

    /// <summary>
    /// The Linux engine takes this server's clients from admission: it runs on it, and every client stage can run on
    /// it (a PROXY header, terminate_tls or inspection keep the server on System.Net.Sockets).
    /// </summary>
    public bool AdmitsToEngine => Engine == TlsProxyTunnel.Engine.EngineKind.Linux && _stagesOnEngine;

    private readonly bool _stagesOnEngine = clientStages.All(s => s.RunsOnEngine);

    /// <summary>A UDP server's default upstream, which opens one session per client address; null for a TCP server.</summary>
    public Datagrams.IDatagramUpstream? Datagrams { get; init; }

    /// <summary>Datagram counters of a UDP or <c>decapsulate</c> server; null otherwise.</summary>
    public DatagramServerMetrics? DatagramMetrics { get; init; }

    /// <summary>The socket layer this server's connections run on, decided once per generation by <see cref="Engine.EngineSelection"/>; always sockets for a UDP server.</summary>
    public Engine.EngineKind Engine { get; init; }

    public Route Select(string? sni)
    {
        if (sni is not null && Router.Match(sni) is { } route)
        {
            return route;
        }

        return DefaultRoute;
    }
}
