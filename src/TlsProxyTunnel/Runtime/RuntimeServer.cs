using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Routing;

namespace TlsProxyTunnel.Runtime;

/// <summary>A server as the data path sees it: immutable apart from its shared limiter and counters.</summary>
internal sealed class RuntimeServer(ServerConfig config, SniRouter<Route> router, Route defaultRoute, ConnectionLimiter limiter, ServerMetrics metrics)
{
    public ServerConfig Config { get; } = config;

    public string Name => Config.Name;

    public SniRouter<Route> Router { get; } = router;

    public Route DefaultRoute { get; } = defaultRoute;

    public ConnectionLimiter Limiter { get; } = limiter;

    public ServerMetrics Metrics { get; } = metrics;

    public Route Select(string? sni)
    {
        if (sni is not null && Router.Match(sni) is { } route)
        {
            return route;
        }

        return DefaultRoute;
    }
}
