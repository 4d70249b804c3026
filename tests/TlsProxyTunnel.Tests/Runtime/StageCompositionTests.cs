using Microsoft.Extensions.Logging.Abstractions;
using Moq;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections.Stages;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Upstreams;
using TlsProxyTunnel.Upstreams.Health;
using TlsProxyTunnel.Upstreams.Stages;

namespace TlsProxyTunnel.Tests.Runtime;

/// <summary>The snapshot builder composes each server's client stages and each upstream's stages once, from the configuration.</summary>
public sealed class StageCompositionTests
{
    private static readonly ViaConfig Via = new() { Target = "hub.test:443", TargetDisplay = "hub.test:443" };

    [Fact]
    public void An_upstream_gets_exactly_the_stages_its_settings_and_via_call_for_in_order()
    {
        var snapshot = Build(
            [Server("direct", "plain"), Server("tunnelled", "secure") with { Via = Via }, Server("secure", "secure")],
            Upstream("plain"),
            Upstream("secure") with { Tls = new UpstreamTlsSettings() });

        Assert.Equal([typeof(TcpConnectStage)], StageTypes(snapshot, "direct"));
        Assert.Equal([typeof(ConnectTargetStage), typeof(TcpConnectStage), typeof(ViaConnectStage), typeof(TlsOriginateStage)], StageTypes(snapshot, "tunnelled"));
        Assert.Equal([typeof(TcpConnectStage), typeof(TlsOriginateStage)], StageTypes(snapshot, "secure"));
    }

    [Fact]
    public void A_server_reads_the_hello_when_it_routes_by_sni_or_terminates_and_terminates_last()
    {
        // The handshake never runs here, so the certificate is not needed.
        var terminate = new TerminateTlsSettings { Default = new ServerCertificate(null!, null!, "unused") };
        var snapshot = Build(
            [Server("plain", "up"), Server("sni", "up") with { Tls = true }, Server("term", "up") with { TerminateTls = terminate }],
            Upstream("up"));

        Assert.Equal([typeof(ReadHelloStage), typeof(RouteStage)], snapshot.Servers["plain"].ClientStages.Select(s => s.GetType()));
        Assert.Equal([typeof(ReadHelloStage), typeof(RouteStage)], snapshot.Servers["sni"].ClientStages.Select(s => s.GetType()));
        Assert.Equal([typeof(ReadHelloStage), typeof(RouteStage), typeof(TerminateTlsStage)], snapshot.Servers["term"].ClientStages.Select(s => s.GetType()));

        // The plain server's hello stage reads nothing; the others' read the hello (one shared instance).
        Assert.NotSame(snapshot.Servers["plain"].ClientStages[0], snapshot.Servers["sni"].ClientStages[0]);
        Assert.Same(snapshot.Servers["sni"].ClientStages[0], snapshot.Servers["term"].ClientStages[0]);
    }

    [Fact]
    public void A_transparent_server_looks_up_the_original_destination_first_and_original_dst_replaces_the_resolving_connect()
    {
        var snapshot = Build(
            [Server("lan", "dst") with { Transparent = true }, Server("plain", "up")],
            Upstream("dst") with { Host = "", Port = 0, ConnectsToOriginalDestination = true, Display = "original_dst" },
            Upstream("up"));

        Assert.Equal([typeof(OriginalDestinationStage), typeof(ReadHelloStage), typeof(RouteStage)], snapshot.Servers["lan"].ClientStages.Select(s => s.GetType()));
        Assert.Equal([typeof(ReadHelloStage), typeof(RouteStage)], snapshot.Servers["plain"].ClientStages.Select(s => s.GetType()));
        Assert.Equal([typeof(OriginalDestinationConnectStage)], StageTypes(snapshot, "lan"));
        Assert.Equal([typeof(TcpConnectStage)], StageTypes(snapshot, "plain"));
    }

    [Fact]
    public void A_PROXY_header_is_read_first_or_after_termination_and_sent_before_or_inside_TLS()
    {
        var terminate = new TerminateTlsSettings { Default = new ServerCertificate(null!, null!, "unused") };
        var snapshot = Build(
            [
                Server("plain", "before") with { ProxyProtocol = ProxyProtocolAccept.Accept },
                Server("sni", "inside") with { Tls = true, ProxyProtocol = ProxyProtocolAccept.Require },
                Server("term", "tunnelled") with { TerminateTls = terminate, ProxyProtocol = ProxyProtocolAccept.Require, Via = Via },
                Server("off", "tlsbefore"),
            ],
            Upstream("before") with { ProxyProtocol = TlsProxyTunnel.ProxyProtocol.ProxyProtocolVersion.V1, ProxyProtocolPlacement = ProxyProtocolPlacement.BeforeTls },
            Upstream("inside") with { Tls = new UpstreamTlsSettings(), ProxyProtocol = TlsProxyTunnel.ProxyProtocol.ProxyProtocolVersion.V2, ProxyProtocolPlacement = ProxyProtocolPlacement.InsideTls },
            Upstream("tunnelled") with { Tls = new UpstreamTlsSettings(), ProxyProtocol = TlsProxyTunnel.ProxyProtocol.ProxyProtocolVersion.V2, ProxyProtocolPlacement = ProxyProtocolPlacement.InsideTls },
            Upstream("tlsbefore") with { Tls = new UpstreamTlsSettings(), ProxyProtocol = TlsProxyTunnel.ProxyProtocol.ProxyProtocolVersion.V1, ProxyProtocolPlacement = ProxyProtocolPlacement.BeforeTls });

        Assert.Equal([typeof(ReadProxyHeaderStage), typeof(ReadHelloStage), typeof(RouteStage)], snapshot.Servers["plain"].ClientStages.Select(s => s.GetType()));
        Assert.Equal([typeof(ReadProxyHeaderStage), typeof(ReadHelloStage), typeof(RouteStage)], snapshot.Servers["sni"].ClientStages.Select(s => s.GetType()));
        Assert.Equal([typeof(ReadHelloStage), typeof(RouteStage), typeof(TerminateTlsStage), typeof(ReadProxyHeaderStage)], snapshot.Servers["term"].ClientStages.Select(s => s.GetType()));
        Assert.Equal([typeof(ReadHelloStage), typeof(RouteStage)], snapshot.Servers["off"].ClientStages.Select(s => s.GetType()));
        Assert.Equal(ProxyProtocolAccept.Require, ((ReadProxyHeaderStage)snapshot.Servers["sni"].ClientStages[0]).Mode);

        Assert.Equal([typeof(TcpConnectStage), typeof(SendProxyHeaderStage)], StageTypes(snapshot, "plain"));
        Assert.Equal([typeof(TcpConnectStage), typeof(TlsOriginateStage), typeof(SendProxyHeaderStage)], StageTypes(snapshot, "sni"));

        // Through a via the header is for the upstream, so it follows the CONNECT exchange.
        Assert.Equal([typeof(ConnectTargetStage), typeof(TcpConnectStage), typeof(ViaConnectStage), typeof(TlsOriginateStage), typeof(SendProxyHeaderStage)], StageTypes(snapshot, "term"));
        Assert.Equal([typeof(TcpConnectStage), typeof(SendProxyHeaderStage), typeof(TlsOriginateStage)], StageTypes(snapshot, "off"));
    }

    [Fact]
    public void Routes_with_the_same_upstream_and_via_share_one_composition()
    {
        var snapshot = Build(
            [Server("a", "up") with { Tls = true, Sni = [new SniRouteConfig("x.test", "up", null)] }],
            Upstream("up"));

        var server = snapshot.Servers["a"];
        Assert.Same(server.DefaultRoute.Upstream, server.Select("x.test").Upstream);
        Assert.NotSame(server.DefaultRoute, server.Select("x.test"));
    }

    [Fact]
    public void Upstream_state_survives_a_reload_that_keeps_the_settings_and_is_dropped_when_they_change()
    {
        var builder = Builder();
        var tls = new UpstreamTlsSettings { ServerName = "hub.test" };
        builder.Build(Config([Server("s", "up")], Upstream("up") with { Tls = tls }), previous: null);
        var first = builder.UpstreamStates.For(Upstream("up") with { Tls = tls }).Tls;

        // A reload reads the file again: equal settings in new objects, even under another name.
        builder.Build(Config([Server("s", "renamed")], Upstream("renamed") with { Tls = tls with { Alpn = [] } }), previous: null);
        Assert.Same(first, builder.UpstreamStates.For(Upstream("up") with { Tls = tls }).Tls);
        Assert.Equal(1, builder.UpstreamStates.Count);

        builder.Build(Config([Server("s", "up")], Upstream("up") with { Tls = tls with { ServerName = "other.test" } }), previous: null);
        Assert.Equal(1, builder.UpstreamStates.Count);
        Assert.NotSame(first, builder.UpstreamStates.For(Upstream("up") with { Tls = tls }).Tls);
    }

    private static IEnumerable<Type> StageTypes(RuntimeSnapshot snapshot, string server) =>
        ((TcpUpstream)snapshot.Servers[server].DefaultRoute.Upstream).Stages.Select(s => s.GetType());

    private static RuntimeSnapshotBuilder Builder() =>
        new(new ProxyMetrics(), new ReadinessState(), Mock.Of<IHostResolver>(), NullLoggerFactory.Instance);

    private static RuntimeSnapshot Build(IReadOnlyList<ServerConfig> servers, params UpstreamConfig[] upstreams) =>
        Builder().Build(Config(servers, upstreams), previous: null);

    private static ProxyConfig Config(IReadOnlyList<ServerConfig> servers, params UpstreamConfig[] upstreams) => new()
    {
        SourcePath = "test.yaml",
        Version = 2,
        Servers = servers,
        Upstreams = upstreams.ToDictionary(u => u.Name, StringComparer.Ordinal),
    };

    private static ServerConfig Server(string name, string upstream) => new()
    {
        Name = name,
        Listen = [new ListenAddress(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0), "127.0.0.1:0")],
        Default = upstream,
    };

    private static UpstreamConfig Upstream(string name) =>
        new() { Name = name, Kind = UpstreamKind.Tcp, Host = "hub.test", Port = 443, Display = $"tcp://hub.test:443" };
}
