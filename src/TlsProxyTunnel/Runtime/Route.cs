using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Upstreams;

namespace TlsProxyTunnel.Runtime;

/// <summary>Where a connection goes: an upstream and the via in effect for it.</summary>
/// <param name="Name">The route's key as configured (an SNI pattern), or <c>default</c>.</param>
internal sealed record Route(string Name, IUpstream Upstream, ViaConfig Via, RouteMetrics Metrics);
