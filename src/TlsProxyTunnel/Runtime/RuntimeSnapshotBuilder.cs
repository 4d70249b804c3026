using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections.Stages;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Diagnostics.Status;
using TlsProxyTunnel.Dns;
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
internal sealed class RuntimeSnapshotBuilder(ProxyMetrics metrics, ReadinessState readiness, IHostResolver resolver, ILoggerFactory loggers, StatusCollector? status = null, TimeProvider? time = null) : IDisposable
{
    private static readonly ReadHelloStage ReadHello = new(read: true);
    private static readonly ReadHelloStage NoHello = new(read: false);

    private readonly UpstreamConnector _connector = new(resolver, new AddressRotation());
    private readonly BanUpstream _ban = new();
    private readonly EchoUpstream _echo = new();
    private readonly HealthUpstream _health = new(metrics, readiness, status);
    private readonly ILogger _upstreamLogger = loggers.CreateLogger("TlsProxyTunnel.Upstream");
    private readonly ILogger _tlsLogger = loggers.CreateLogger("TlsProxyTunnel.Tls");
    private readonly ILogger _poolLogger = loggers.CreateLogger("TlsProxyTunnel.Pool");
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>State that outlives the snapshots built here (TLS clients, warm pools).</summary>
    public UpstreamStates UpstreamStates { get; } = new();

    /// <summary>The generation after <paramref name="previous"/> (the one running now), or the first when it is null.</summary>
    public RuntimeSnapshot Build(ProxyConfig config, RuntimeSnapshot? previous)
    {
        // One composition per (upstream, via in effect): routes that share both share the instance.
        var composed = new Dictionary<(string Upstream, ViaConfig Via), IUpstream>();
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

            if (!composed.TryGetValue((name, via), out var built))
            {
                built = composed[(name, via)] = new TcpUpstream(upstream, UpstreamStages(upstream, via), _upstreamLogger);
            }

            return built;
        }

        var servers = new Dictionary<string, RuntimeServer>(StringComparer.Ordinal);
        foreach (var server in config.Servers)
        {
            var routes = server.Sni.Select(r => new KeyValuePair<string, Route>(
                r.Pattern,
                new Route(r.Pattern, Compose(r.Upstream, r.Via ?? server.Via), r.Via ?? server.Via, metrics.Route(server.Name, r.Pattern, r.UpstreamWritten ?? r.Upstream)))).ToArray();
            var defaultRoute = new Route("default", Compose(server.Default, server.Via), server.Via, metrics.Route(server.Name, "default", server.DefaultWritten ?? server.Default));

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
            };
        }

        UpstreamStates.Retain(config.Upstreams.Values.Where(u => u.Kind == UpstreamKind.Tcp));
        return new RuntimeSnapshot(config, (previous?.Generation ?? 0) + 1, servers);
    }

    private IClientStage[] ClientStages(ServerConfig server)
    {
        // Terminating needs the hello too: its SNI picks the route and the certificate.
        var readsHello = server.Tls || server.TerminateTls is not null;
        return server.TerminateTls is { } terminate
            ? [ReadHello, RouteStage.Instance, new TerminateTlsStage(new ServerTlsTerminator(terminate), metrics, _tlsLogger)]
            : [readsHello ? ReadHello : NoHello, RouteStage.Instance];
    }

    /// <summary>Closes the warm pools (shutdown).</summary>
    public void Dispose() => UpstreamStates.Dispose();

    private IUpstreamStage[] UpstreamStages(UpstreamConfig upstream, ViaConfig via)
    {
        if (upstream.Pool is { } pool)
        {
            // The pool dials (connect, CONNECT, TLS) ahead of the client; the client's stages only take.
            return [new PoolTakeStage(upstream, via, UpstreamStates.For(upstream).Pool(via, () => NewPool(upstream, via, pool)), _poolLogger)];
        }

        var stages = new List<IUpstreamStage>(4);
        if (!via.IsDirect)
        {
            stages.Add(new ConnectTargetStage(upstream, via, _upstreamLogger));
        }

        stages.Add(new TcpConnectStage(upstream, _connector, metrics.Upstream(upstream.Name), _upstreamLogger));
        if (!via.IsDirect)
        {
            stages.Add(new ViaConnectStage(upstream, via, metrics, _upstreamLogger));
        }

        if (UpstreamStates.For(upstream).Tls is { } tls)
        {
            stages.Add(new TlsOriginateStage(upstream, tls, metrics, _tlsLogger));
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
