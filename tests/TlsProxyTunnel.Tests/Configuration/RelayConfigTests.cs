using System.Net;
using TlsProxyTunnel.Configuration;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

/// <summary><c>kind: tls_relay</c> with its <c>relay</c> block, and <c>kind: relay_publisher</c> (issue #14).</summary>
public sealed class RelayConfigTests
{
    private static string Relay(string relayBody, string serverExtra = "", string listen = "[\"127.0.0.1:12000\"]") =>
        $"version: 2\nservers:\n  relay:\n    kind: tls_relay\n    listen: {listen}\n{serverExtra}    relay:\n{relayBody}\n";

    private static string Publisher(string body) =>
        $"version: 2\nservers:\n  app:\n    kind: relay_publisher\n{body}\nupstream:\n  local: \"tcp://127.0.0.1:8443\"\n";

    [Fact]
    public void A_relay_takes_the_originals_defaults_and_its_listen_is_the_control_port_not_a_listener()
    {
        var server = LoadOk(Relay("      advertise_host: relay.example.net")).Servers[0];
        Assert.Equal(ServerKind.TlsRelay, server.Kind);
        Assert.Empty(server.Listen);
        var relay = server.Relay!;
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 12000), relay.Control.EndPoint);
        Assert.Equal(("relay.example.net", 200, 100), (relay.AdvertiseHost, relay.PortCount, relay.PairCount));
        Assert.Null(relay.Bind);
        Assert.Null(relay.PendingTimeout);
        Assert.Equal(65536, relay.MaxPendingBytes);
        Assert.True(relay.IgnoreControlInput);
    }

    [Fact]
    public void Every_relay_setting_is_read()
    {
        var relay = LoadOk(Relay("      port_count: 4\n      bind: \"::\"\n      pending_timeout: 30s\n      max_pending_bytes: 1024\n      max_pending: 7\n      ignore_control_input: false")).Servers[0].Relay!;
        Assert.Equal(4, relay.PortCount);
        Assert.Equal(IPAddress.IPv6Any, relay.Bind);
        Assert.Equal(TimeSpan.FromSeconds(30), relay.PendingTimeout);
        Assert.Equal((1024, 7, false), (relay.MaxPendingBytes, relay.MaxPending, relay.IgnoreControlInput));
        Assert.Null(LoadOk(Relay("      pending_timeout: 0s")).Servers[0].Relay!.PendingTimeout);
    }

    [Fact]
    public void A_publisher_reads_its_relay_tls_backoff_and_routes_like_any_server()
    {
        var server = LoadOk(Publisher("    relay: \"relay.example.net:12000\"\n    tls: {verify: chain}\n    backoff: 2s\n    default: local\n    maxclients: 5")).Servers[0];
        Assert.Equal(ServerKind.RelayPublisher, server.Kind);
        Assert.Empty(server.Listen);
        Assert.False(server.Tls);
        Assert.Equal(("local", 5), (server.Default, server.MaxClients));
        var publisher = server.Publisher!;
        Assert.Equal(("relay.example.net", 12000, TimeSpan.FromSeconds(2)), (publisher.Host, publisher.Port, publisher.Backoff));
        Assert.Equal(TlsVerifyMode.Chain, publisher.Control.Tls!.Verify);

        // tls: true keeps its meaning (route on SNI); the control channel's TLS is then relay_tls.
        var routing = LoadOk(Publisher("    relay: \"127.0.0.1:12000\"\n    relay_tls: {verify: chain}\n    tls: true\n    sni:\n      a.test: local")).Servers[0];
        Assert.True(routing.Tls);
        Assert.Single(routing.Sni);
        Assert.NotNull(routing.Publisher!.Control.Tls);

        Assert.Null(LoadOk(Publisher("    relay: \"127.0.0.1:12000\"")).Servers[0].Publisher!.Control.Tls);
    }

    [Fact]
    public void Check_summarises_the_relay_layout_and_the_publishers_relay()
    {
        var yaml = Relay("      port_count: 4\n      advertise_host: relay.example.net") + "  app:\n    kind: relay_publisher\n    relay: \"relay.example.net:12000\"\n    default: echo\n";
        using var output = new StringWriter();
        ConfigSummary.Write(LoadOk(yaml), output);
        var text = output.ToString();
        Assert.Contains("kind tls_relay: control 127.0.0.1:12000, reverse 12001-12002, public 12003-12004, advertised as relay.example.net", text, StringComparison.Ordinal);
        Assert.Contains("kind relay_publisher: through relay relay.example.net:12000 (plain control channel), backoff 5s", text, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, int, int, string> Errors => new()
    {
        { "odd count", Relay("      port_count: 5"), 7, 19, "'port_count' must be even" },
        { "past 65535", Relay("      port_count: 200", listen: "[\"127.0.0.1:65400\"]"), 7, 19, "passes 65535" },
        { "bad bind", Relay("      bind: nowhere"), 7, 13, "'bind' must be an IP address" },
        { "host with space", Relay("      advertise_host: \"a b\""), 7, 23, "without spaces or line breaks" },
        { "unknown relay key", Relay("      port_cnt: 4"), 7, 7, "did you mean 'port_count'?" },
        { "two listens", Relay("      port_count: 4", listen: "[\"127.0.0.1:1\", \"127.0.0.1:2\"]"), 5, 13, "must hold exactly one address" },
        { "sni on a relay", Relay("      port_count: 4", serverExtra: "    default: ban\n"), 6, 5, "'default' does nothing on server 'relay' of kind tls_relay" },
        { "no relay block", "version: 2\nservers:\n  relay:\n    kind: tls_relay\n    listen: [\"127.0.0.1:12000\"]\n", 3, 3, "needs 'relay'" },
        { "unknown kind", "version: 2\nservers:\n  r:\n    kind: relay\n    listen: [\"127.0.0.1:1\"]\n", 4, 11, "'kind' must be one of" },
        { "relay key on a router", WithServer("    backoff: 1s"), 6, 5, "it belongs to 'kind: tls_relay' or 'kind: relay_publisher'" },
        { "publisher without relay", Publisher("    default: local"), 3, 3, "needs 'relay'" },
        { "publisher relay not host:port", Publisher("    relay: \"relay.example.net\""), 5, 12, "'relay' 'relay.example.net' is not valid" },
        { "publisher with listen", Publisher("    relay: \"127.0.0.1:1\"\n    listen: [\"127.0.0.1:2\"]"), 6, 5, "'listen' does nothing on server 'app' of kind relay_publisher" },
        { "tls twice", Publisher("    relay: \"127.0.0.1:1\"\n    relay_tls: {verify: chain}\n    tls: {verify: chain}"), 7, 5, "gives the control channel's TLS twice" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Each_mistake_is_one_error_at_its_place(string what, string yaml, int line, int column, string message)
    {
        var error = SingleError(yaml);
        Assert.True(error.Message.Contains(message, StringComparison.Ordinal), $"{what}: {error}");
        Assert.True(error.Line == line && error.Column == column, $"{what}: expected {line}:{column}, got {error}");
    }
}
