using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.IntegrationTests.Fixtures;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Via;

/// <summary>The tpt binary when the proxy or the CONNECT target misbehaves: the client is closed, never pinned.</summary>
public sealed class ViaFailureTests
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_refusing_target_gets_a_5xx_and_a_refusing_proxy_is_unreachable_both_close_the_client()
    {
        await using var proxy = await TinyproxyFixture.StartAsync().WaitAsync(TestTimeout);
        using var closedTarget = ClosedPort();
        using var closedProxy = ClosedPort();
        await using var tpt = await TptRun.StartAsync($"""
            version: 2
            servers:
              badtarget:
                listen: ["127.0.0.1:0"]
                tls: true
                default: proxy
                via:
                  target: "127.0.0.1:{Port(closedTarget)}"
                  handshake_timeout: 5s
              badproxy:
                listen: ["127.0.0.1:0"]
                tls: true
                default: deadproxy
                via:
                  target: "127.0.0.1:{Port(closedTarget)}"
                  connect_timeout: 5s
            upstream:
              proxy: "tcp://{proxy.EndPoint}"
              deadproxy: "tcp://127.0.0.1:{Port(closedProxy)}"
            """, listeners: 2).WaitAsync(TestTimeout);
        var hello = await OpenSsl.CaptureClientHelloAsync("refused.via.test").WaitAsync(TestTimeout);

        await ViaAssert.ClosedWithoutBytesAsync(tpt.EndPoint("badtarget"), hello).WaitAsync(TestTimeout);
        var refused = await tpt.Process.WaitForLineAsync(l => l.Contains($"CONNECT 127.0.0.1:{Port(closedTarget)} via", StringComparison.Ordinal));
        Assert.Matches(@"refused: 5\d\d ", refused);

        var took = await ViaAssert.ClosedWithoutBytesAsync(tpt.EndPoint("badproxy"), hello).WaitAsync(TestTimeout);
        // The refusal ends it, not connect_timeout (5 s, started after this clock): the log line below says why.
        Assert.True(took < TimeSpan.FromSeconds(5), $"a refused proxy port took {took} to close the client");
        var unreachable = await tpt.Process.WaitForLineAsync(l => l.Contains("unreachable", StringComparison.Ordinal) && l.Contains("Server badproxy", StringComparison.Ordinal));
        Assert.Contains($"127.0.0.1:{Port(closedProxy)}", unreachable, StringComparison.Ordinal);
        Assert.Contains("ConnectionRefused", unreachable, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_proxy_that_never_answers_is_cut_off_by_handshake_timeout()
    {
        await using var silent = FakeProxy.Silent();
        await using var tpt = await TptRun.StartAsync($"""
            version: 2
            servers:
              tls:
                listen: ["127.0.0.1:0"]
                tls: true
                default: proxy
                via:
                  target: "origin.via.test:443"
                  connect_timeout: 5s
                  handshake_timeout: 500ms
            upstream:
              proxy: "tcp://{silent.EndPoint}"
            """, listeners: 1).WaitAsync(TestTimeout);
        var hello = await OpenSsl.CaptureClientHelloAsync("silent.via.test").WaitAsync(TestTimeout);

        var took = await ViaAssert.ClosedWithoutBytesAsync(tpt.EndPoint("tls"), hello, TimeSpan.FromSeconds(12)).WaitAsync(TestTimeout);

        // This clock starts before tpt's handshake timer, so never after it ends (the lower bound is exact, less
        // clock granularity); below connect_timeout (5 s) tells the two timeouts apart however busy the machine is.
        Assert.True(took >= TimeSpan.FromMilliseconds(400) && took < TimeSpan.FromSeconds(5), $"closed after {took}");
        var connection = await silent.NextConnectionAsync();
        await connection.RequestComplete.WaitAsync(TestTimeout);
        await tpt.Process.WaitForLineAsync(l => l.Contains("CONNECT origin.via.test:443 via", StringComparison.Ordinal) && l.Contains("Timeout", StringComparison.Ordinal));

        // The hello is not sent into a tunnel that never came up.
        await connection.Closed.WaitAsync(TestTimeout);
        Assert.Empty(connection.Tunnelled);
    }

    [Fact]
    public async Task A_response_in_segments_is_read_whole_and_server_first_bytes_after_it_reach_the_client_first()
    {
        var banner = "SSH-2.0-banner\r\n"u8.ToArray();
        await using var fake = FakeProxy.Answering(
            "HTTP/1.1 2"u8.ToArray(),
            "00 Connection est"u8.ToArray(),
            "ablished\r\n"u8.ToArray(),
            [.. "\r\n"u8, .. banner]);
        await using var tpt = await TptRun.StartAsync($"""
            version: 2
            servers:
              tls:
                listen: ["127.0.0.1:0"]
                tls: true
                default: proxy
                via:
                  target: "origin.via.test:443"
                  handshake_timeout: 5s
                  headers:
                    X-Second: "2"
                    X-First: "1"
            upstream:
              proxy: "tcp://{fake.EndPoint}"
            """, listeners: 1).WaitAsync(TestTimeout);
        var hello = await OpenSsl.CaptureClientHelloAsync("segments.via.test").WaitAsync(TestTimeout);

        using var client = await RawClient.ConnectAsync(tpt.EndPoint("tls"));
        await client.SendAsync(hello);

        // tls-proxy-tunnel dropped these bytes; they must be the first thing the client sees.
        Assert.Equal(banner, await client.ReadExactlyAsync(banner.Length));
        client.ShutdownSend();
        var (rest, _) = await client.ReadToEndAsync();
        Assert.Empty(rest);

        var connection = await fake.NextConnectionAsync();
        await connection.Closed.WaitAsync(TestTimeout);
        Assert.Equal(
            "CONNECT origin.via.test:443 HTTP/1.1\r\nHost: origin.via.test:443\r\nX-Second: 2\r\nX-First: 1\r\n\r\n",
            connection.Request);
        Assert.Equal(TestBackend.Sha256(hello), TestBackend.Sha256(connection.Tunnelled));
    }

    [Fact]
    public async Task Sni_as_target_without_sni_closes_without_touching_the_proxy_or_falls_back_to_target()
    {
        await using var watched = FakeProxy.Silent();
        await using var proxy = await TinyproxyFixture.StartAsync().WaitAsync(TestTimeout);
        await using var backend = new TestBackend("FALLBACK");
        await using var tpt = await TptRun.StartAsync($"""
            version: 2
            servers:
              notarget:
                listen: ["127.0.0.1:0"]
                tls: true
                default: watched
                via:
                  use_sni_as_target: true
              fallback:
                listen: ["127.0.0.1:0"]
                tls: true
                default: proxy
                via:
                  use_sni_as_target: true
                  target: "{backend.Address}"
                  handshake_timeout: 5s
            upstream:
              watched: "tcp://{watched.EndPoint}"
              proxy: "tcp://{proxy.EndPoint}"
            """, listeners: 2).WaitAsync(TestTimeout);
        var noSni = await OpenSsl.CaptureClientHelloAsync(null).WaitAsync(TestTimeout);

        await ViaAssert.ClosedWithoutBytesAsync(tpt.EndPoint("notarget"), noSni).WaitAsync(TestTimeout);
        await tpt.Process.WaitForLineAsync(l => l.Contains("Server notarget", StringComparison.Ordinal) && l.Contains("no valid SNI and no static target", StringComparison.Ordinal));
        await tpt.Process.WaitForLineAsync(l => l.Contains("server=notarget", StringComparison.Ordinal) && l.Contains("outcome=no_target", StringComparison.Ordinal));

        // The decision is made before connecting, so by the access log line the proxy would have been dialled.
        Assert.Equal(0, watched.AcceptedCount);

        await ViaAssert.RoundTripAsync(tpt.EndPoint("fallback"), noSni, backend, proxy.Output).WaitAsync(TestTimeout);
        Assert.Contains($"CONNECT {backend.Address}", proxy.Output, StringComparison.Ordinal);
    }

    /// <summary>A port that refuses connections: bound (so nobody else can take it) but never listening.</summary>
    private static Socket ClosedPort()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return socket;
    }

    private static int Port(Socket socket) => ((IPEndPoint)socket.LocalEndPoint!).Port;
}
