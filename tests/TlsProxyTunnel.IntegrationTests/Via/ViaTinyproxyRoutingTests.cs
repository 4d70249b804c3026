using TlsProxyTunnel.IntegrationTests.Fixtures;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Via;

/// <summary>
/// The tpt binary tunnelling through a real tinyproxy: which CONNECT target each via setting produces,
/// proved by what reaches the backends (byte-exact) and what tinyproxy and tpt log.
/// </summary>
public sealed class ViaTinyproxyRoutingTests
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(15);

    // A one-$ interpolated raw string cannot hold a literal "{}".
    private const string EmptyMap = "{}";

    [Fact]
    public async Task A_static_target_is_reached_through_the_proxy_byte_exact()
    {
        await using var proxy = await TinyproxyFixture.StartAsync().WaitAsync(TestTimeout);
        await using var backend = new TestBackend("STATIC");
        await using var tpt = await TptRun.StartAsync($"""
            version: 2
            servers:
              tls:
                listen: ["127.0.0.1:0"]
                tls: true
                sni:
                  static.via.test: proxy
                via:
                  target: "{backend.Address}"
                  handshake_timeout: 5s
            upstream:
              proxy: "tcp://{proxy.EndPoint}"
            """, listeners: 1).WaitAsync(TestTimeout);
        var hello = await OpenSsl.CaptureClientHelloAsync("static.via.test").WaitAsync(TestTimeout);

        await ViaAssert.RoundTripAsync(tpt.EndPoint("tls"), hello, backend, proxy.Output).WaitAsync(TestTimeout);

        // The access log names both hops: the proxy's address and the CONNECT target.
        await tpt.Process.WaitForLineAsync(l => l.Contains($"upstream_addr={proxy.EndPoint} CONNECT {backend.Address}", StringComparison.Ordinal)
            && l.Contains("outcome=completed", StringComparison.Ordinal));
        Assert.Contains($"CONNECT {backend.Address}", proxy.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Use_sni_as_target_connects_to_the_sni_and_target_port()
    {
        await using var proxy = await TinyproxyFixture.StartAsync().WaitAsync(TestTimeout);
        await using var backend = new TestBackend("SNI");
        await using var tpt = await TptRun.StartAsync($"""
            version: 2
            servers:
              tls:
                listen: ["127.0.0.1:0"]
                tls: true
                default: proxy
                via:
                  use_sni_as_target: true
                  target_port: {backend.Port}
                  handshake_timeout: 5s
            upstream:
              proxy: "tcp://{proxy.EndPoint}"
            """, listeners: 1).WaitAsync(TestTimeout);

        // localhost is a valid host name that tinyproxy itself can resolve (to the backend's 127.0.0.1).
        var hello = await OpenSsl.CaptureClientHelloAsync("LocalHost.").WaitAsync(TestTimeout);

        await ViaAssert.RoundTripAsync(tpt.EndPoint("tls"), hello, backend, proxy.Output).WaitAsync(TestTimeout);

        // The SNI went out normalised (lower case, no trailing dot), with target_port.
        Assert.Contains($"CONNECT localhost:{backend.Port}", proxy.Output, StringComparison.Ordinal);
        await tpt.Process.WaitForLineAsync(l => l.Contains($"CONNECT localhost:{backend.Port}", StringComparison.Ordinal)
            && l.Contains("outcome=completed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_per_sni_via_replaces_the_servers_and_a_merge_key_inherits_it_with_another_port()
    {
        await using var proxy = await TinyproxyFixture.StartAsync().WaitAsync(TestTimeout);
        await using var inherited = new TestBackend("INHERITED");
        await using var merged = new TestBackend("MERGED");
        await using var direct = new TestBackend("DIRECT");

        // Two servers share the anchored via: "inherits" uses it as is, "overrides" has an SNI entry that
        // merges it and changes only target_port, and another that goes direct with `via: {}`.
        await using var tpt = await TptRun.StartAsync($"""
            version: 2
            servers:
              inherits:
                listen: ["127.0.0.1:0"]
                tls: true
                via: &proxied
                  use_sni_as_target: true
                  target_port: {inherited.Port}
                  handshake_timeout: 5s
                sni:
                  localhost: proxy
              overrides:
                listen: ["127.0.0.1:0"]
                tls: true
                via: *proxied
                sni:
                  localhost:
                    upstream: proxy
                    via:
                      <<: *proxied
                      target_port: {merged.Port}
                  direct.via.test:
                    upstream: direct
                    via: {EmptyMap}
            upstream:
              proxy: "tcp://{proxy.EndPoint}"
              direct: "tcp://{direct.Address}"
            """, listeners: 2).WaitAsync(TestTimeout);
        var localhost = await OpenSsl.CaptureClientHelloAsync("localhost").WaitAsync(TestTimeout);
        var directHello = await OpenSsl.CaptureClientHelloAsync("direct.via.test").WaitAsync(TestTimeout);

        await ViaAssert.RoundTripAsync(tpt.EndPoint("inherits"), localhost, inherited, proxy.Output).WaitAsync(TestTimeout);
        await ViaAssert.RoundTripAsync(tpt.EndPoint("overrides"), localhost, merged, proxy.Output).WaitAsync(TestTimeout);
        await ViaAssert.RoundTripAsync(tpt.EndPoint("overrides"), directHello, direct, proxy.Output).WaitAsync(TestTimeout);

        Assert.Contains($"CONNECT localhost:{inherited.Port}", proxy.Output, StringComparison.Ordinal);
        Assert.Contains($"CONNECT localhost:{merged.Port}", proxy.Output, StringComparison.Ordinal);

        // `via: {}` means direct: the proxy never heard of that backend, tpt connected to it itself.
        Assert.DoesNotContain($":{direct.Port}", proxy.Output, StringComparison.Ordinal);
        await tpt.Process.WaitForLineAsync(l => l.Contains("sni=direct.via.test", StringComparison.Ordinal)
            && l.Contains($"upstream_addr={direct.Address} ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Openssl_completes_a_tls_handshake_through_the_router_and_tinyproxy()
    {
        await using var proxy = await TinyproxyFixture.StartAsync().WaitAsync(TestTimeout);
        using var server = await OpenSslServer.StartAsync("tls.via.test").WaitAsync(TestTimeout);
        await using var tpt = await TptRun.StartAsync($"""
            version: 2
            servers:
              tls:
                listen: ["127.0.0.1:0"]
                tls: true
                sni:
                  tls.via.test: proxy
                via:
                  target: "127.0.0.1:{server.Port}"
                  handshake_timeout: 5s
            upstream:
              proxy: "tcp://{proxy.EndPoint}"
            """, listeners: 1).WaitAsync(TestTimeout);

        var (exitCode, output) = await Task.Run(() => OpenSsl.Client(tpt.EndPoint("tls"), "tls.via.test")).WaitAsync(TestTimeout);

        Assert.True(exitCode == 0, $"{output}\n{proxy.Output}\n{tpt.Process.AllOutput}");
        Assert.Contains("CN = tls.via.test", output, StringComparison.Ordinal);
        Assert.Contains($"CONNECT 127.0.0.1:{server.Port}", proxy.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_interval_logs_bytes_in_flight_while_a_tunnel_is_up()
    {
        await using var proxy = await TinyproxyFixture.StartAsync().WaitAsync(TestTimeout);
        await using var backend = new TestBackend("STATS");
        await using var tpt = await TptRun.StartAsync($"""
            version: 2
            servers:
              tls:
                listen: ["127.0.0.1:0"]
                tls: true
                default: proxy
                via:
                  target: "{backend.Address}"
                  stats_interval: 100ms
            upstream:
              proxy: "tcp://{proxy.EndPoint}"
            """, listeners: 1).WaitAsync(TestTimeout);
        var hello = await OpenSsl.CaptureClientHelloAsync("stats.via.test").WaitAsync(TestTimeout);

        using var client = await RawClient.ConnectAsync(tpt.EndPoint("tls"));
        await client.SendAsync(hello);
        Assert.Equal("STATS", await client.ReadBannerAsync());

        // The tunnel is held open here (however long the line takes on a loaded machine: the wait is only a
        // guard); the line must come from the running relay, with the hello counted.
        var line = await tpt.Process.WaitForLineAsync(l => l.Contains("in-flight tx=", StringComparison.Ordinal), TestTimeout);
        Assert.Contains($"in-flight tx={hello.Length} ", line, StringComparison.Ordinal);
        Assert.Contains(backend.Address, line, StringComparison.Ordinal);
        Assert.DoesNotContain("outcome=", string.Join('\n', tpt.Process.Lines), StringComparison.Ordinal);

        client.ShutdownSend();
        await client.ReadToEndAsync();
    }
}
