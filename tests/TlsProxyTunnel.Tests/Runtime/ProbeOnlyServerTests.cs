using Microsoft.Extensions.Logging.Abstractions;
using Moq;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Tests.Configuration;
using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.Tests.Runtime;

/// <summary>Which servers count as health servers: exempt from maxclients, open through the drain.</summary>
public sealed class ProbeOnlyServerTests
{
    [Theory]
    [InlineData("default: health", true)]
    [InlineData("default: health\n    maxclients: 1", true)]
    [InlineData("default: echo", false)]
    [InlineData("tls: true\n    default: health", true)]
    [InlineData("tls: true\n    sni: {a.test: health}\n    default: health", true)]
    [InlineData("tls: true\n    sni: {a.test: echo}\n    default: health", false)]
    [InlineData("tls: true\n    sni: {a.test: health}\n    default: echo", false)]
    [InlineData("sni: {a.test: echo}\n    default: health", true)] // without tls the sni map is never used
    public void A_server_serves_probes_only_when_every_route_it_can_take_leads_to_health(string body, bool probeOnly)
    {
        var server = Build(body);
        Assert.Equal(probeOnly, server.ProbeOnly);
        Assert.Equal(probeOnly ? ProbeServers.ConnectionLimit : server.Config.MaxClients, server.ConnectionLimit);
    }

    private static RuntimeServer Build(string body)
    {
        var config = ConfigTestHelpers.LoadOk(ConfigTestHelpers.WithServer("    " + body));
        var builder = new RuntimeSnapshotBuilder(new ProxyMetrics(), new ReadinessState(), Mock.Of<IHostResolver>(), NullLoggerFactory.Instance);
        return builder.Build(config, previous: null).Servers["web"];
    }
}
