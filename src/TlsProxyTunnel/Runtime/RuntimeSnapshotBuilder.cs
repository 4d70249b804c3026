using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Diagnostics.Status;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Routing;
using TlsProxyTunnel.Upstreams;
using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.Runtime;

/// <summary>Compiles a validated configuration into the immutable tables the data path reads.</summary>
internal sealed class RuntimeSnapshotBuilder(ProxyMetrics metrics, ReadinessState readiness, IHostResolver resolver, ILoggerFactory loggers, StatusCollector? status = null)
{
    private readonly UpstreamConnector _connector = new(resolver, new AddressRotation());
    private readonly BanUpstream _ban = new();
    private readonly EchoUpstream _echo = new();
    private readonly HealthUpstream _health = new(metrics, readiness, status);

    /// <summary>The generation after <paramref name="previous"/> (the one running now), or the first when it is null.</summary>
    public RuntimeSnapshot Build(ProxyConfig config, RuntimeSnapshot? previous)
    {
        var upstreams = new Dictionary<string, IUpstream>(StringComparer.Ordinal);
        foreach (var (name, upstream) in config.Upstreams)
        {
            upstreams[name] = upstream.Kind switch
            {
                UpstreamKind.Ban => _ban,
                UpstreamKind.Echo => _echo,
                UpstreamKind.Health => _health,
                _ => new TcpUpstream(upstream, _connector, metrics, loggers.CreateLogger("TlsProxyTunnel.Upstream")),
            };
        }

        var servers = new Dictionary<string, RuntimeServer>(StringComparer.Ordinal);
        foreach (var server in config.Servers)
        {
            var routes = server.Sni.Select(r => new KeyValuePair<string, Route>(
                r.Pattern,
                new Route(r.Pattern, upstreams[r.Upstream], r.Via ?? server.Via, metrics.Route(server.Name, r.Pattern, r.UpstreamWritten ?? r.Upstream)))).ToList();
            var defaultRoute = new Route("default", upstreams[server.Default], server.Via, metrics.Route(server.Name, "default", server.DefaultWritten ?? server.Default));

            // A server keeps its limiter across reloads so connections that outlive a generation still count. Taken
            // from the running generation, not a table of our own: a removed server's limiter goes with the last
            // generation that had it (a table was never pruned), and a build that is then not applied changes nothing.
            var limiter = previous is not null && previous.Servers.TryGetValue(server.Name, out var kept) ? kept.Limiter : new ConnectionLimiter();

            // Without tls the sni routes are never taken, so only the default decides.
            var probeOnly = defaultRoute.Upstream == _health && (!server.Tls || server.Sni.All(r => upstreams[r.Upstream] == _health));
            servers[server.Name] = new RuntimeServer(server, new SniRouter<Route>(server.Tls ? routes : []), defaultRoute, limiter, metrics.Server(server.Name), probeOnly)
            {
                Routes = [.. routes.Select(r => r.Value), defaultRoute],
            };
        }

        return new RuntimeSnapshot(config, (previous?.Generation ?? 0) + 1, servers);
    }
}
