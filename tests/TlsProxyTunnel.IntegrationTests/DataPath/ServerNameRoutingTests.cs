using System.Net.Sockets;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.Reliability;

namespace TlsProxyTunnel.IntegrationTests.DataPath;

/// <summary>
/// tls-proxy-tunnel compatibility on the wire: a hello naming several servers routes on the first name that
/// matches a route, and a Host header set in via.headers is the only Host header the proxy sees.
/// </summary>
public sealed class ServerNameRoutingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_hello_with_several_names_routes_on_the_first_that_matches_and_that_name_is_the_connect_target()
    {
        await using var a = new TestBackend("A");
        await using var b = new TestBackend("B");
        await using var fallback = new TestBackend("D");
        await using var proxy = new RecordingProxy();
        await using var tpt = await TptRun.StartAsync($$"""
            version: 2
            upstream:
              a: "tcp://{{a.Address}}"
              b: "tcp://{{b.Address}}"
              d: "tcp://{{fallback.Address}}"
              proxy: "tcp://127.0.0.1:{{proxy.Port}}"
            servers:
              r:
                listen: ["127.0.0.1:0"]
                tls: true
                sni:
                  a.test: a
                  b.test: b
                  proxied.test:
                    upstream: proxy
                    via:
                      use_sni_as_target: true
                      target_port: 8443
                default: d
            """, 1);

        Assert.Equal("B", await BannerAsync(tpt, "unknown.test", "b.test", "a.test"));
        Assert.Equal("A", await BannerAsync(tpt, "a.test", "b.test"));
        Assert.Equal("D", await BannerAsync(tpt, "one.test", "two.test"));
        var line = await tpt.Process.WaitForLineAsync(l => l.Contains("route=b.test", StringComparison.Ordinal), Bound);
        Assert.Contains("sni=b.test ", line, StringComparison.Ordinal);
        await tpt.Process.WaitForLineAsync(l => l.Contains("sni=one.test ", StringComparison.Ordinal) && l.Contains("upstream=d ", StringComparison.Ordinal), Bound);

        // use_sni_as_target takes the name that matched, not the first one sent.
        using (var client = await RawClient.ConnectAsync(tpt.EndPoint("r")))
        {
            var hello = CraftedHello.WithServerNames("other.test", "proxied.test");
            await client.SendAsync(hello);
            Assert.Equal(hello, await client.ReadExactlyAsync(hello.Length));
        }

        Assert.True(proxy.Requests.TryPeek(out var request));
        Assert.StartsWith("CONNECT proxied.test:8443 HTTP/1.1\r\n", request, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_host_header_set_in_via_headers_is_the_only_host_header_sent()
    {
        await using var proxy = new RecordingProxy();
        await using var tpt = await TptRun.StartAsync($$"""
            version: 2
            upstream:
              proxy: "tcp://127.0.0.1:{{proxy.Port}}"
            servers:
              r:
                listen: ["127.0.0.1:0"]
                tls: true
                default: proxy
                via:
                  target: "inner.test:443"
                  headers:
                    host: www.test1.com:4433
                    X-Extra: yes
            """, 1);
        using (var client = await RawClient.ConnectAsync(tpt.EndPoint("r")))
        {
            var hello = CraftedHello.WithSni("any.test");
            await client.SendAsync(hello);
            Assert.Equal(hello, await client.ReadExactlyAsync(hello.Length));
        }

        Assert.True(proxy.Requests.TryPeek(out var request));
        var lines = request.Split("\r\n");
        Assert.Equal("CONNECT inner.test:443 HTTP/1.1", lines[0]);
        var host = Assert.Single(lines, l => l.StartsWith("host:", StringComparison.OrdinalIgnoreCase));
        Assert.Equal("host: www.test1.com:4433", host);
        Assert.Contains("X-Extra: yes", lines);
    }

    private static async Task<string> BannerAsync(TptRun tpt, params string[] names)
    {
        using var client = await RawClient.ConnectAsync(tpt.EndPoint("r"));
        await client.SendAsync(CraftedHello.WithServerNames(names));
        return await client.ReadBannerAsync();
    }
}
