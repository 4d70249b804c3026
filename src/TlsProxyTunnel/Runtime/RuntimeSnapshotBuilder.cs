using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections.Stages;
using TlsProxyTunnel.Datagrams;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Diagnostics.Status;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Engine;
using TlsProxyTunnel.Inspection;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Routing;
using TlsProxyTunnel.Tls;
using TlsProxyTunnel.Upstreams;
using TlsProxyTunnel.Upstreams.Health;
using TlsProxyTunnel.Upstreams.Pool;
using TlsProxyTunnel.Upstreams.Stages;

namespace TlsProxyTunnel.Runtime;

/// <summary>
/// Compiles a validated configuration into the immutable tables the data path reads, composing each server's
/// client stages and each upstream's stages (per via in effect) once, here, rather than deciding per connection.
/// </summary>
/// <param name="engine">The process default (<c>TPT_ENGINE</c>, already checked): what a server without its own <c>engine</c> runs on.</param>
internal sealed class RuntimeSnapshotBuilder(ProxyMetrics metrics, ReadinessState readiness, IHostResolver resolver, ILoggerFactory loggers, StatusCollector? status = null, ReverseRelay.RelayHubs? relays = null, TimeProvider? time = null, EngineChoice engine = EngineChoice.Auto) : IDisposable
{
    private static readonly ReadHelloStage ReadHello = new(read: true);
    private static readonly ReadHelloStage NoHello = new(read: false);

    private readonly UpstreamConnector _connector = new(resolver, new AddressRotation());
    private readonly BanUpstream _ban = new();
    private readonly EchoUpstream _echo = new();
    private readonly HealthUpstream _health = new(metrics, readiness, status);
    private readonly ILogger _upstreamLogger = loggers.CreateLogger("TlsProxyTunnel.Upstream");
    private readonly ILogger _tlsLogger = loggers.CreateLogger("TlsProxyTunnel.Tls");
    private readonly OriginalDestinationStage _originalDestination = new(loggers.CreateLogger("TlsProxyTunnel.Transparent"));
    private readonly ILogger _proxyProtocolLogger = loggers.CreateLogger("TlsProxyTunnel.ProxyProtocol");
    private readonly ReverseRelay.RelayControlUpstream _relayControl = new(relays ?? new(), loggers.CreateLogger("TlsProxyTunnel.Relay"));
    private readonly ILogger _datagramLogger = loggers.CreateLogger("TlsProxyTunnel.Datagrams");
    private readonly Dictionary<UpstreamKeyText, UotpServerSessions> _serverSessions = [];

    /// <summary>Capture files, kept open across reloads.</summary>
    public CaptureFiles Captures { get; } = new(loggers.CreateLogger("TlsProxyTunnel.Capture"));
    private readonly ILogger _poolLogger = loggers.CreateLogger("TlsProxyTunnel.Pool");
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>State that outlives the snapshots built here (TLS clients, warm pools).</summary>
    public UpstreamStates UpstreamStates { get; } = new();

    /// <summary>The generation after <paramref name="previous"/> (the one running now), or the first when it is null.</summary>
    public RuntimeSnapshot Build(ProxyConfig config, RuntimeSnapshot? previous)
    {
        // One composition per (upstream, via in effect): routes that share both share the instance.
        var composed = new Dictionary<(string Upstream, ViaConfig Via), IUpstream>();
        var serverName = "";
        IUpstream Compose(string name, ViaConfig via)
        {
            var upstream = config.Upstreams[name];
            switch (upstream.Kind)
            {
                case UpstreamKind.Ban:
                    return _ban;
                case UpstreamKind.Echo:
                    return _echo;
                case UpstreamKind.Health:
                    return _health;
            }

            if (upstream.Kind == UpstreamKind.Udp)
            {
                // Composed per decapsulating server: its datagram counters are the server's.
                return new UotpServerUpstream(upstream, ServerSessions(upstream), metrics.Datagrams.Server(serverName), _datagramLogger);
            }

            if (!composed.TryGetValue((name, via), out var built))
            {
                built = composed[(name, via)] = new TcpUpstream(upstream, UpstreamStages(upstream, via), _upstreamLogger);
            }

            return built;
        }

        var servers = new Dictionary<string, RuntimeServer>(StringComparer.Ordinal);
        foreach (var server in config.Servers)
        {
            serverName = server.Name;
            var routes = server.Sni.Select(r => new KeyValuePair<string, Route>(
                r.Pattern,
                new Route(r.Pattern, Compose(r.Upstream, r.Via ?? server.Via), r.Via ?? server.Via, metrics.Route(server.Name, r.Pattern, r.UpstreamWritten ?? r.Upstream)))).ToArray();
            // A relay's control connections all go to its control protocol, after the client stages (terminate_tls) ran.
            // A UDP server's sessions come from its datagram upstream; its route only names it (status page, metrics).
            var datagrams = server.IsUdp ? DatagramUpstream(config.Upstreams[server.Default]) : null;
            var defaultRoute = server.Kind == ServerKind.TlsRelay
                ? new Route("relay", _relayControl, server.Via, metrics.Route(server.Name, "relay", _relayControl.Name))
                : new Route("default", datagrams ?? Compose(server.Default, server.Via), server.Via, metrics.Route(server.Name, "default", server.DefaultWritten ?? server.Default));

            // A server keeps its limiter across reloads so connections that outlive a generation still count. Taken
            // from the running generation, not a table of our own: a removed server's limiter goes with the last
            // generation that had it (a table was never pruned), and a build that is then not applied changes nothing.
            var limiter = previous is not null && previous.Servers.TryGetValue(server.Name, out var kept) ? kept.Limiter : new ConnectionLimiter();

            // Without tls the sni routes are never taken, so only the default decides.
            var probeOnly = ProbeServers.IsProbeOnly(server, config.Upstreams);
            servers[server.Name] = new RuntimeServer(
                server,
                new SniRouter<Route>(server.Tls ? routes : []),
                defaultRoute,
                limiter,
                metrics.Server(server.Name),
                probeOnly,
                ClientStages(server))
            {
                Routes = [.. routes.Select(r => r.Value), defaultRoute],
                Datagrams = datagrams,
                DatagramMetrics = server.IsUdp || server.Decapsulate != DatagramFraming.None ? metrics.Datagrams.Server(server.Name) : null,
                Engine = EngineSelection.Resolve(server, engine),
            };
        }

        UpstreamStates.Retain(config.Upstreams.Values.Where(u => u.Kind == UpstreamKind.Tcp));
        Captures.Retain(config.Servers.Select(s => s.Capture).OfType<CaptureSettings>());
        RetainServerSessions(config);
        return new RuntimeSnapshot(config, (previous?.Generation ?? 0) + 1, servers);
    }

    /// <summary>At shutdown: closes the warm pools and flushes the capture files.</summary>
    public void Dispose()
    {
        UpstreamStates.Dispose();
        Captures.CloseAllAsync().GetAwaiter().GetResult();
    }


    /// <summary>A UDP server's upstream: plain UDP forwarding, or uotp over TCP/TLS connections.</summary>
    private IDatagramUpstream DatagramUpstream(UpstreamConfig upstream)
    {
        var dialer = new DatagramDialer(upstream, resolver, upstream.Tls is null ? null : UpstreamStates.For(upstream).Tls, metrics.TlsHandshakes);
        var key = DatagramKey(upstream);
        return upstream.Encapsulate == DatagramFraming.Uotp
            ? new UotpClientUpstream(dialer, key, _datagramLogger)
            : new UdpForwardUpstream(dialer, key, _datagramLogger);
    }

    /// <summary>
    /// The server role's session table of a udp:// upstream, kept across reloads that leave the upstream as it was, so
    /// that a client's connections still find each other (and their UDP socket) after one.
    /// </summary>
    private UotpServerSessions ServerSessions(UpstreamConfig upstream)
    {
        var key = DatagramKey(upstream);
        if (!_serverSessions.TryGetValue(key, out var sessions))
        {
            sessions = _serverSessions[key] = new UotpServerSessions(new DatagramDialer(upstream, resolver, null, metrics.TlsHandshakes), _datagramLogger);
        }

        return sessions;
    }

    private void RetainServerSessions(ProxyConfig config)
    {
        var live = config.Upstreams.Values.Where(u => u.Kind == UpstreamKind.Udp).Select(DatagramKey).ToHashSet();
        foreach (var key in _serverSessions.Keys.Where(k => !live.Contains(k)).ToList())
        {
            // Sessions of an upstream that is gone end with their last connection; the table is just forgotten.
            _serverSessions.Remove(key);
        }
    }

    /// <summary>Every setting a datagram upstream's sessions depend on: equal keys keep sessions across a reload.</summary>
    internal static UpstreamKeyText DatagramKey(UpstreamConfig upstream) =>
        new($"{upstream.Kind} {UpstreamKey.Of(upstream)} {upstream.Encapsulate} {upstream.Connections} {upstream.Backoff} {upstream.ResolveOnce} {upstream.SoMark}");

    /// <summary>Every server-role session table, for shutdown.</summary>
    public IEnumerable<UotpServerSessions> ServerSessionTables => _serverSessions.Values;

    private IClientStage[] ClientStages(ServerConfig server)
    {
        // Terminating needs the hello too: its SNI picks the route and the certificate.
        var readsHello = server.Tls || server.TerminateTls is not null;
        var stages = new List<IClientStage>(6);
        if (server.Transparent)
        {
            stages.Add(_originalDestination);
        }

        // A PROXY header comes first on the wire: before the hello, or first inside the TLS tpt terminates.
        var proxy = server.ProxyProtocol == ProxyProtocolAccept.Off ? null : new ReadProxyHeaderStage(server.ProxyProtocol, _proxyProtocolLogger);
        if (proxy is not null && server.TerminateTls is null)
        {
            stages.Add(proxy);
        }

        stages.Add(readsHello ? ReadHello : NoHello);
        stages.Add(RouteStage.Instance);
        if (server.TerminateTls is { } terminate)
        {
            stages.Add(new TerminateTlsStage(new ServerTlsTerminator(terminate), metrics, _tlsLogger));
            if (proxy is not null)
            {
                stages.Add(proxy);
            }
        }

        // Last: it sees plaintext after terminate_tls, and the client a PROXY header named.
        if (server.Capture is not null || server.Filters.Count > 0)
        {
            stages.Add(new InspectStage(server.Capture is { } capture ? Captures.For(capture) : null, server.Filters));
        }

        return [.. stages];
    }

    /// <summary>Closes the warm pools (shutdown).</summary>
    private IUpstreamStage[] UpstreamStages(UpstreamConfig upstream, ViaConfig via)
    {
        if (upstream.Pool is { } pool)
        {
            // The pool dials (connect, CONNECT, TLS) ahead of the client; the client's stages only take, then send
            // the client's PROXY header inside TLS (before TLS is refused with a pool: the handshake came first).
            var take = new PoolTakeStage(upstream, via, UpstreamStates.For(upstream).Pool(via, () => NewPool(upstream, via, pool)), _poolLogger);
            return upstream.ProxyProtocol is { } header && upstream.ProxyProtocolPlacement == ProxyProtocolPlacement.InsideTls
                ? [take, new SendProxyHeaderStage(header, ProxyProtocolPlacement.InsideTls)]
                : [take];
        }

        var stages = new List<IUpstreamStage>(4);
        if (!via.IsDirect)
        {
            stages.Add(new ConnectTargetStage(upstream, via, _upstreamLogger));
        }

        stages.Add(upstream.ConnectsToOriginalDestination
            ? new OriginalDestinationConnectStage(upstream, metrics.Upstream(upstream.Name), _upstreamLogger)
            : new TcpConnectStage(upstream, _connector, metrics.Upstream(upstream.Name), _upstreamLogger));
        if (!via.IsDirect)
        {
            stages.Add(new ViaConnectStage(upstream, via, metrics, _upstreamLogger));
        }

        // Before TLS, the header follows the connect and the via's CONNECT: it is for the upstream, not the proxy.
        if (upstream.ProxyProtocol is { } before && upstream.ProxyProtocolPlacement == ProxyProtocolPlacement.BeforeTls)
        {
            stages.Add(new SendProxyHeaderStage(before, ProxyProtocolPlacement.BeforeTls));
        }

        if (UpstreamStates.For(upstream).Tls is { } tls)
        {
            stages.Add(new TlsOriginateStage(upstream, tls, metrics, _tlsLogger));
            if (upstream.ProxyProtocol is { } inside && upstream.ProxyProtocolPlacement == ProxyProtocolPlacement.InsideTls)
            {
                stages.Add(new SendProxyHeaderStage(inside, ProxyProtocolPlacement.InsideTls));
            }
        }

        return [.. stages];
    }

    private ConnectionPool NewPool(UpstreamConfig upstream, ViaConfig via, PoolSettings settings) => new(
        upstream.Name,
        settings,
        new PoolDialer(upstream, via, _connector, UpstreamStates.For(upstream).Tls, metrics),
        metrics.Pools.For(upstream.Name),
        _time,
        _poolLogger);
}
