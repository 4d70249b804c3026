using TlsProxyTunnel.Configuration;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

/// <summary><c>protocol: udp</c> and <c>udp</c>, <c>udp://</c> upstreams, <c>encapsulate</c> and <c>decapsulate</c>, and which may meet which.</summary>
public sealed class DatagramConfigTests
{
    private const string Both = """
        version: 2
        servers:
          wg_in:
            protocol: udp
            listen: ["127.0.0.1:8911"]
            udp: {idle_timeout: 30s, max_sessions: 64}
            default: wg_tunnel
          wg_out:
            listen: ["127.0.0.1:8911"]
            decapsulate: uotp
            default: wg_backend
        upstream:
          wg_tunnel:
            address: "tcp://vpn.example.net:8443"
            encapsulate: uotp
            connections: 3
            backoff: 2s
            connect_timeout: 4s
            resolve_once: true
            so_mark: 0xca6c
            tls: {server_name: vpn.example.net}
          wg_backend: "udp://127.0.0.1:51820"
        """;

    [Fact]
    public void Both_roles_load_and_a_udp_and_a_tcp_server_share_an_address()
    {
        var config = LoadOk(Both);
        var udp = config.Servers[0];
        Assert.True(udp.IsUdp);
        Assert.Equal(new UdpSettings { IdleTimeout = TimeSpan.FromSeconds(30), MaxSessions = 64 }, udp.Udp);
        Assert.Equal(DatagramFraming.Uotp, config.Servers[1].Decapsulate);

        var tunnel = config.Upstreams["wg_tunnel"];
        Assert.Equal((DatagramFraming.Uotp, 3, TimeSpan.FromSeconds(2), true, 0xca6cu), (tunnel.Encapsulate, tunnel.Connections, tunnel.Backoff, tunnel.ResolveOnce, tunnel.SoMark!.Value));
        var backend = config.Upstreams["wg_backend"];
        Assert.Equal((UpstreamKind.Udp, "127.0.0.1", 51820), (backend.Kind, backend.Host, backend.Port));
    }

    [Fact]
    public void The_defaults_are_the_originals()
    {
        var config = LoadOk(Both.Replace("    udp: {idle_timeout: 30s, max_sessions: 64}\n", "", StringComparison.Ordinal)
            .Replace("    connections: 3\n    backoff: 2s\n", "", StringComparison.Ordinal));
        Assert.Equal((TimeSpan.FromSeconds(120), 1024), (config.Servers[0].Udp.IdleTimeout, config.Servers[0].Udp.MaxSessions));
        Assert.Equal((8, TimeSpan.FromSeconds(5)), (config.Upstreams["wg_tunnel"].Connections, config.Upstreams["wg_tunnel"].Backoff));
    }

    [Theory]
    [InlineData("two udp servers on one address", "  other:\n    protocol: udp\n    listen: [\"127.0.0.1:8911\"]\n    default: wg_tunnel\n", "duplicates '127.0.0.1:8911' of server 'wg_in'")]
    [InlineData("sni on a udp server", "  other:\n    protocol: udp\n    listen: [\"127.0.0.1:9000\"]\n    tls: true\n    default: wg_tunnel\n", "'tls' of server 'other' does not apply to 'protocol: udp'")]
    [InlineData("udp server to a tcp upstream", "  other:\n    protocol: udp\n    listen: [\"127.0.0.1:9000\"]\n    default: plain\n", "names upstream 'plain', which cannot take datagrams")]
    [InlineData("tcp server to a udp upstream", "  other:\n    listen: [\"127.0.0.1:9000\"]\n    default: wg_backend\n", "a udp:// address, but the server carries a byte stream: add 'decapsulate: uotp'")]
    [InlineData("decapsulate to a tcp upstream", "  other:\n    listen: [\"127.0.0.1:9000\"]\n    decapsulate: uotp\n    default: plain\n", "which is not a udp:// address")]
    [InlineData("tcp server to an encapsulating upstream", "  other:\n    listen: [\"127.0.0.1:9000\"]\n    default: wg_tunnel\n", "the server is not 'protocol: udp'")]
    [InlineData("udp settings on a tcp server", "  other:\n    listen: [\"127.0.0.1:9000\"]\n    udp: {max_sessions: 3}\n    default: plain\n", "'udp' of server 'other' needs 'protocol: udp'")]
    public void Mismatches_are_errors_that_name_the_place(string what, string server, string message)
    {
        var yaml = Both.Replace("upstream:\n", server + "upstream:\n  plain: \"tcp://127.0.0.1:1\"\n", StringComparison.Ordinal);
        var error = SingleError(yaml);
        Assert.True(error.Message.Contains(message, StringComparison.Ordinal), $"{what}: {error}");
        Assert.True(error.Line > 0);
    }

    [Theory]
    [InlineData("so_mark: 4294967296")]
    [InlineData("so_mark: -1")]
    [InlineData("so_mark: 0xZZ")]
    [InlineData("encapsulate: udpierce")]
    [InlineData("connections: 0")]
    public void Bad_encapsulation_values_are_errors(string line)
    {
        var error = SingleError(Both.Replace("    so_mark: 0xca6c", "    " + line + (line.StartsWith("so_mark", StringComparison.Ordinal) ? "" : "\n    so_mark: 0xca6c"), StringComparison.Ordinal));
        Assert.Contains($"'{line.Split(':')[0]}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_udp_url_takes_no_tls_and_encapsulation_keys_warn_without_encapsulate()
    {
        var yaml = Both.Replace("  wg_backend: \"udp://127.0.0.1:51820\"", "  wg_backend:\n    address: \"udp://127.0.0.1:51820\"\n    connections: 2", StringComparison.Ordinal);
        var result = Load(yaml);
        Assert.True(result.Succeeded);
        Assert.Contains(result.Diagnostics, d => d.Message.Contains("'connections' of upstream 'wg_backend' does nothing without 'encapsulate: uotp'", StringComparison.Ordinal));

        var tls = SingleError(Both.Replace("  wg_backend: \"udp://127.0.0.1:51820\"", "  wg_backend:\n    address: \"udp://127.0.0.1:51820\"\n    tls: {}", StringComparison.Ordinal));
        Assert.Contains("is a udp:// address: 'tls' and 'proxy_protocol' are for stream upstreams", tls.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0", 0u)]
    [InlineData("51820", 51820u)]
    [InlineData("0xca6c", 0xca6cu)]
    [InlineData("0XFFFFFFFF", uint.MaxValue)]
    public void Marks_are_decimal_or_hexadecimal(string text, uint expected) => Assert.Equal(expected, ConfigMapper.ParseMark(text));
}
