using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.Reliability;

namespace TlsProxyTunnel.IntegrationTests.ProxyProtocol;

/// <summary>
/// How the real tpt reads PROXY headers from raw clients: accept and require, a header split over reads and
/// followed by the ClientHello in the same read, LOCAL, garbage, and a slow client that must neither block the
/// others nor outlive client_hello_timeout.
/// </summary>
public sealed class ProxyHeaderReadingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static int LocalPort(RawClient client) => ((IPEndPoint)client.Socket.LocalEndPoint!).Port;

    [Fact]
    public async Task Accept_takes_a_header_split_over_reads_routes_on_the_hello_behind_it_and_lets_a_client_without_one_through()
    {
        await using var backend = new TestBackend("origin", banner: false);
        using var config = new TempConfig($"""
            version: 2
            servers:
              pp:
                listen: ["127.0.0.1:0"]
                tls: true
                proxy_protocol: accept
                sni:
                  a.test: origin
                default: ban
            upstream:
              origin: "tcp://127.0.0.1:{backend.Port}"
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1);
        var hello = CraftedHello.WithServerNames("a.test");

        // A v1 header in two writes, its end and the whole hello in one: the reader keeps what follows the header.
        using (var client = await RawClient.ConnectAsync(tpt.EndPoint("pp")))
        {
            await client.SendAsync("PROXY TCP4 192.0.2.10 198.51."u8.ToArray());
            // No signal says tpt has read the first part; a pause makes two reads likely (one read is tested below).
            await Task.Delay(50);
            await client.SendAsync((byte[])[.. "100.7 51000 443\r\n"u8, .. hello]);
            Assert.Equal(hello, await client.ReadExactlyAsync(hello.Length));
            client.ShutdownSend();
            await client.ReadToEndAsync();
            Assert.Equal(hello, backend.NextFinished().Received);
            var line = await tpt.WaitForLineAsync(l => l.Contains("client=192.0.2.10:51000 ", StringComparison.Ordinal));
            Assert.Contains("sni=a.test hello=sni route=a.test", line, StringComparison.Ordinal);
            Assert.Contains("outcome=completed", line, StringComparison.Ordinal);
        }

        // No header: accepted as it is, the hello read from the bytes already taken.
        using (var client = await RawClient.ConnectAsync(tpt.EndPoint("pp")))
        {
            var port = LocalPort(client);
            await client.SendAsync(hello);
            Assert.Equal(hello, await client.ReadExactlyAsync(hello.Length));
            client.ShutdownSend();
            await client.ReadToEndAsync();
            Assert.Equal(hello, backend.NextFinished().Received);
            var line = await tpt.WaitForLineAsync(l => l.Contains($"client=127.0.0.1:{port} ", StringComparison.Ordinal));
            Assert.Contains("route=a.test", line, StringComparison.Ordinal);
        }

        // v2 with a TLV, then the hello: the same.
        using (var client = await RawClient.ConnectAsync(tpt.EndPoint("pp")))
        {
            var v2 = Convert.FromHexString("0d0a0d0a000d0a515549540a" + "2121" + "0029" + "20010db8000000000000000000000001" + "20010db8000000000000000000000002" + "c738" + "01bb" + "ea0002" + "4142");
            await client.SendAsync((byte[])[.. v2, .. hello]);
            Assert.Equal(hello, await client.ReadExactlyAsync(hello.Length));
            client.ShutdownSend();
            await client.ReadToEndAsync();
            Assert.Equal(hello, backend.NextFinished().Received);
            await tpt.WaitForLineAsync(l => l.Contains("client=[2001:db8::1]:51000 ", StringComparison.Ordinal) && l.Contains("route=a.test", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_slow_client_does_not_hold_up_others_and_is_closed_at_client_hello_timeout_garbage_at_once()
    {
        await using var backend = new TestBackend("origin", banner: false);
        using var config = new TempConfig($"""
            version: 2
            servers:
              pp:
                listen: ["127.0.0.1:0"]
                proxy_protocol: require
                client_hello_timeout: 3s
                default: origin
              probes:
                listen: ["127.0.0.1:0"]
                default: health
            upstream:
              origin: "tcp://127.0.0.1:{backend.Port}"
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 2);
        var endPoint = tpt.EndPoint("pp");

        // A header started, then nothing.
        var slowStarted = Stopwatch.StartNew();
        using var slow = await RawClient.ConnectAsync(endPoint);
        var slowPort = LocalPort(slow);
        await slow.SendAsync("PROXY TCP4 19"u8.ToArray());
        var slowEnd = slow.ReadToEndAsync(Bound);

        // Meanwhile: a good header with a payload is relayed, garbage and a bad header are closed without waiting,
        // each while the slow client is still waiting. Checked as each is served, and their log lines only once
        // all were: the slow client's 3 s must cover the exchanges, not also the waits for seven log lines.
        const string NotYet = "the slow client was closed before client_hello_timeout, or the others waited for it";
        using (var good = await RawClient.ConnectAsync(endPoint))
        {
            await good.SendAsync("PROXY TCP4 192.0.2.10 198.51.100.7 51000 443\r\nping\n"u8.ToArray());
            Assert.Equal("ping\n", Encoding.ASCII.GetString(await good.ReadExactlyAsync(5)));
            Assert.False(slowEnd.IsCompleted, NotYet);
            good.ShutdownSend();
            await good.ReadToEndAsync();
        }

        var refused = new List<(int Port, string Reason)>();
        foreach (var (bytes, reason) in new[]
        {
            (Encoding.ASCII.GetBytes("GET / HTTP/1.0\r\n\r\n"), "not a PROXY header"),
            (Encoding.ASCII.GetBytes("PROXY TCP4 192.0.2.10 198.51.100.7 99999 443\r\n"), "a port is not a number"),
            (Convert.FromHexString("0d0a0d0a000d0a515549540a" + "2111" + "000f" + "c000020ac6336407c73801bb" + "ea0009"), "a TLV runs past"),
        })
        {
            using var bad = await RawClient.ConnectAsync(endPoint);
            var port = LocalPort(bad);
            await bad.SendAsync(bytes);
            var (data, _) = await bad.ReadToEndAsync(Bound);
            Assert.Empty(data);
            Assert.False(slowEnd.IsCompleted, NotYet);
            refused.Add((port, reason));
        }

        await tpt.WaitForLineAsync(l => l.Contains("client=192.0.2.10:51000 ", StringComparison.Ordinal) && l.Contains("outcome=completed", StringComparison.Ordinal));
        foreach (var (port, reason) in refused)
        {
            await tpt.WaitForLineAsync(l => l.Contains($"PROXY header from 127.0.0.1:{port} is not valid: ", StringComparison.Ordinal) && l.Contains(reason, StringComparison.Ordinal));
            await tpt.WaitForLineAsync(l => l.Contains($"client=127.0.0.1:{port} ", StringComparison.Ordinal) && l.Contains("outcome=proxy_header_invalid", StringComparison.Ordinal));
        }

        var (slowData, _) = await slowEnd.WaitAsync(Bound);
        Assert.Empty(slowData);
        Assert.InRange(slowStarted.Elapsed, TimeSpan.FromSeconds(2.5), Bound);
        await tpt.WaitForLineAsync(l => l.Contains($"client=127.0.0.1:{slowPort} ", StringComparison.Ordinal) && l.Contains("outcome=proxy_header_invalid", StringComparison.Ordinal));
        await tpt.WaitForLineAsync(l => l.Contains($"127.0.0.1:{slowPort} is not valid: incomplete at client_hello_timeout (3000 ms)", StringComparison.Ordinal));

        var metrics = await HttpProbe.GetAsync(tpt.EndPoint("probes"), "/metrics").WaitAsync(Bound);
        Assert.Contains("tpt_connection_outcomes_total{name=\"pp\",outcome=\"proxy_header_invalid\"} 4", metrics.Body, StringComparison.Ordinal);
        Assert.Equal(1, backend.Accepted);
    }

    [Fact]
    public async Task The_header_and_the_hello_share_client_hello_timeout_from_the_accept()
    {
        using var config = new TempConfig("""
            version: 2
            servers:
              pp:
                listen: ["127.0.0.1:0"]
                tls: true
                proxy_protocol: require
                client_hello_timeout: 4s
                default: ban
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1);
        var started = Stopwatch.StartNew();
        using var client = await RawClient.ConnectAsync(tpt.EndPoint("pp"));

        // A header halfway through the budget, then no hello: what is left of the 4 s, not another 4 s, decides.
        // The header only has to arrive before the budget ends (2 s to spare for a late Task.Delay on a loaded
        // machine), and the close is timed from the header's send: a fresh budget would close no earlier than 4 s
        // after it, exactly, however slow the machine.
        await Task.Delay(TimeSpan.FromSeconds(2));
        var sinceHeader = Stopwatch.StartNew();
        await client.SendAsync("PROXY TCP4 192.0.2.10 198.51.100.7 51000 443\r\n"u8.ToArray());
        await client.ReadToEndAsync(Bound);
        Assert.True(sinceHeader.Elapsed < TimeSpan.FromSeconds(4), $"closed {sinceHeader.Elapsed} after the header: the hello got a budget of its own");
        Assert.True(started.Elapsed >= TimeSpan.FromSeconds(3.5), $"closed {started.Elapsed} after connecting, before client_hello_timeout");
        var line = await tpt.WaitForLineAsync(l => l.Contains("client=192.0.2.10:51000 ", StringComparison.Ordinal));
        Assert.Contains("hello=silent route=default upstream=ban", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LOCAL_and_UNKNOWN_keep_the_socket_s_addresses()
    {
        await using var backend = new TestBackend("origin", banner: false);
        using var config = new TempConfig($"""
            version: 2
            servers:
              pp:
                listen: ["127.0.0.1:0"]
                proxy_protocol: require
                default: origin
            upstream:
              origin: "tcp://127.0.0.1:{backend.Port}"
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1);
        foreach (var header in new[] { Convert.FromHexString("0d0a0d0a000d0a515549540a" + "2000" + "0000"), "PROXY UNKNOWN\r\n"u8.ToArray() })
        {
            using var client = await RawClient.ConnectAsync(tpt.EndPoint("pp"));
            var port = LocalPort(client);
            await client.SendAsync((byte[])[.. header, .. "hi\n"u8]);
            Assert.Equal("hi\n", Encoding.ASCII.GetString(await client.ReadExactlyAsync(3)));
            client.ShutdownSend();
            await client.ReadToEndAsync();
            Assert.Equal("hi\n", Encoding.ASCII.GetString(backend.NextFinished().Received));
            await tpt.WaitForLineAsync(l => l.Contains($"client=127.0.0.1:{port} ", StringComparison.Ordinal) && l.Contains("outcome=completed", StringComparison.Ordinal));
        }
    }
}
