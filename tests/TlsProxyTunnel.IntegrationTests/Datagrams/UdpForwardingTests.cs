using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Datagrams;

/// <summary>
/// A <c>protocol: udp</c> server forwarding to a <c>udp://</c> upstream, with socat as the real UDP peer behind it:
/// each client address a session with its own source port, many senders at once, <c>max_sessions</c>, idle expiry.
/// </summary>
public sealed class UdpForwardingTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly List<TempConfig> _configs = [];

    public void Dispose()
    {
        foreach (var config in _configs)
        {
            config.Dispose();
        }
    }

    [Fact]
    public async Task Socat_talks_through_the_udp_server_to_a_socat_echo()
    {
        using var socat = SocatEcho.Start();
        await using var tpt = await StartAsync(socat.Port, maxSessions: 100, idle: "120s");
        var port = tpt.EndPoint("udp_in").Port;

        var info = new ProcessStartInfo("socat") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-T", "10", "-", $"UDP4:127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}" })
        {
            info.ArgumentList.Add(arg);
        }

        using var client = Process.Start(info)!;
        try
        {
            await client.StandardInput.WriteLineAsync("hello through tpt");
            await client.StandardInput.FlushAsync();
            Assert.Equal("hello through tpt", await client.StandardOutput.ReadLineAsync().WaitAsync(Bound));
            await client.StandardInput.WriteLineAsync("and again");
            await client.StandardInput.FlushAsync();
            Assert.Equal("and again", await client.StandardOutput.ReadLineAsync().WaitAsync(Bound));
        }
        finally
        {
            client.Kill();
        }

        var line = await StopAndReadAccessLineAsync(tpt);
        Assert.Contains($"upstream=backend upstream_addr=127.0.0.1:{socat.Port}", line, StringComparison.Ordinal);
        Assert.Contains("rx_datagrams=2 rx=28 tx_datagrams=2 tx=28", line, StringComparison.Ordinal);
        Assert.Contains("outcome=shutdown", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Many_concurrent_senders_each_get_their_own_replies()
    {
        using var echo = new UdpEcho();
        await using var tpt = await StartAsync(echo.Port, maxSessions: 100, idle: "120s");
        var port = tpt.EndPoint("udp_in").Port;

        var senders = Enumerable.Range(0, 40).Select(async n =>
        {
            using var peer = new UdpPeer(port);
            var replies = await peer.EchoNumberedAsync(25, $"sender{n:D2}", TimeSpan.FromSeconds(10));
            return (n, replies);
        }).ToList();
        foreach (var (n, replies) in await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(60)))
        {
            // Loopback loses nothing; every reply is one this sender sent, none another's.
            Assert.Equal(25, replies.Count);
            Assert.All(replies, r => Assert.StartsWith($"sender{n:D2}-", r, StringComparison.Ordinal));
            Assert.Equal(25, replies.Distinct(StringComparer.Ordinal).Count());
        }

        var metrics = await MetricsAsync(tpt);
        Assert.Equal(40, echo.Sources.Count);
        Assert.Contains("tpt_udp_sessions_total{name=\"udp_in\"} 40", metrics, StringComparison.Ordinal);
        Assert.Contains("tpt_udp_datagrams_total{name=\"udp_in\",direction=\"in\"} 1000", metrics, StringComparison.Ordinal);
        Assert.Contains("tpt_udp_datagrams_total{name=\"udp_in\",direction=\"out\"} 1000", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sender_beyond_max_sessions_is_dropped_and_counted_and_idle_sessions_end_with_an_access_line()
    {
        using var echo = new UdpEcho();
        // idle_timeout long enough that the two sessions are still there when the status page is read and the third
        // sender is turned away on a loaded machine (1 s was not, in CI), short enough to wait for their end below.
        await using var tpt = await StartAsync(echo.Port, maxSessions: 2, idle: "4s");
        var port = tpt.EndPoint("udp_in").Port;

        using var a = new UdpPeer(port);
        using var b = new UdpPeer(port);
        using var c = new UdpPeer(port);
        Assert.Single(await a.EchoNumberedAsync(1, "a", Bound));
        Assert.Single(await b.EchoNumberedAsync(1, "b", Bound));

        // The status page counts sessions against max_sessions. Read first, right after the two sessions started:
        // after the third sender's second of silence and a curl run it was 4 s of wall clock from their start.
        using (var http = new HttpClient { Timeout = Bound })
        using (var status = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"http://{tpt.EndPoint("metrics")}/status?format=json")))
        {
            var row = status.RootElement.GetProperty("servers").GetProperty("rows").EnumerateArray().Single(r => r.GetProperty("name").GetString() == "udp_in");
            Assert.Equal(("udp", 2, 2), (row.GetProperty("mode").GetString(), row.GetProperty("active").GetInt32(), row.GetProperty("max").GetInt32()));
            Assert.Single(row.GetProperty("listen").EnumerateArray());
        }

        Assert.Empty(await c.EchoNumberedAsync(1, "c", TimeSpan.FromSeconds(1)));
        await tpt.WaitForLineAsync(l => l.Contains("max_sessions (2) reached on server udp_in", StringComparison.Ordinal), Bound);
        Assert.Contains("tpt_udp_dropped_total{name=\"udp_in\",reason=\"max_sessions\"} 1", await MetricsAsync(tpt), StringComparison.Ordinal);

        // Once the two are idle for idle_timeout, their sessions end and the third gets through.
        var line = await tpt.WaitForLineAsync(l => l.Contains("outcome=idle_timeout", StringComparison.Ordinal), Bound);
        Assert.Contains("server=udp_in", line, StringComparison.Ordinal);
        Assert.Contains("rx_datagrams=1 rx=5 tx_datagrams=1 tx=5", line, StringComparison.Ordinal);
        await tpt.WaitForLineAsync(l => l.Contains("outcome=idle_timeout", StringComparison.Ordinal), Bound, skipSeen: 1);
        Assert.Single(await c.EchoNumberedAsync(1, "c", Bound));
        Assert.Equal(3, echo.Sources.Count);
    }

    [Fact]
    public async Task A_reload_keeps_sessions_whose_server_and_upstream_stay_and_ends_the_others()
    {
        using var first = new UdpEcho();
        using var second = new UdpEcho();
        var config = new TempConfig(Yaml(first.Port, 100, "120s"));
        _configs.Add(config);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 2);
        var port = tpt.EndPoint("udp_in").Port;
        using var peer = new UdpPeer(port);
        Assert.Single(await peer.EchoNumberedAsync(1, "before", Bound));

        // Nothing the session depends on changes (only the metrics server's maxclients): it stays, on its source port.
        await File.WriteAllTextAsync(config.Path, Yaml(first.Port, 100, "120s").Replace("default: health", "default: health\n    maxclients: 7", StringComparison.Ordinal));
        tpt.Signal(TptProcess.SIGHUP);
        await tpt.WaitForLineAsync(l => l.Contains("Reloaded: generation 2", StringComparison.Ordinal), Bound);
        Assert.Single(await peer.EchoNumberedAsync(1, "kept", Bound));
        Assert.Equal(2, Assert.Single(first.Sources).Value);
        Assert.DoesNotContain(tpt.Lines, l => l.Contains("outcome=reload", StringComparison.Ordinal));

        // Another upstream: the session ends with the reload, on the same port, and the next datagram goes there.
        await File.WriteAllTextAsync(config.Path, Yaml(second.Port, 100, "120s"));
        tpt.Signal(TptProcess.SIGHUP);
        var ended = await tpt.WaitForLineAsync(l => l.Contains("outcome=reload", StringComparison.Ordinal), Bound);
        Assert.Contains("rx_datagrams=2", ended, StringComparison.Ordinal);
        await tpt.WaitForLineAsync(l => l.Contains("Reloaded: generation 3", StringComparison.Ordinal), Bound);
        Assert.Single(await peer.EchoNumberedAsync(1, "moved", Bound));
        Assert.Single(second.Sources);
    }

    private static string Yaml(int upstreamPort, int maxSessions, string idle) => $$"""
            version: 2
            servers:
              udp_in:
                protocol: udp
                listen: ["127.0.0.1:0"]
                udp: {idle_timeout: {{idle}}, max_sessions: {{maxSessions}}}
                default: backend
              metrics:
                listen: ["127.0.0.1:0"]
                default: health
            upstream:
              backend: "udp://127.0.0.1:{{upstreamPort}}"
            """;

    private async Task<TptProcess> StartAsync(int upstreamPort, int maxSessions, string idle)
    {
        var config = new TempConfig($$"""
            version: 2
            servers:
              udp_in:
                protocol: udp
                listen: ["127.0.0.1:0"]
                udp: {idle_timeout: {{idle}}, max_sessions: {{maxSessions}}}
                default: backend
              metrics:
                listen: ["127.0.0.1:0"]
                default: health
            upstream:
              backend: "udp://127.0.0.1:{{upstreamPort}}"
            """);
        _configs.Add(config);
        return await TptProcess.StartAsync(config.Path, expectedListeners: 2);
    }

    /// <summary>SIGTERM: the sessions end at once, each with its access line.</summary>
    private static async Task<string> StopAndReadAccessLineAsync(TptProcess tpt)
    {
        tpt.Signal(TptProcess.SIGTERM);
        return await tpt.WaitForLineAsync(l => l.Contains("server=udp_in", StringComparison.Ordinal) && l.Contains("outcome=", StringComparison.Ordinal), Bound);
    }

    private static async Task<string> MetricsAsync(TptProcess tpt)
    {
        using var http = new HttpClient { Timeout = Bound };
        return await http.GetStringAsync($"http://{tpt.EndPoint("metrics")}/metrics");
    }

    /// <summary>socat answering each datagram from where it came (one child per datagram: a true datagram echo).</summary>
    private sealed class SocatEcho : IDisposable
    {
        private readonly Process _process;

        private SocatEcho(Process process, int port)
        {
            _process = process;
            Port = port;
        }

        public int Port { get; }

        public static SocatEcho Start()
        {
            var port = FreePort.TcpAndUdp();
            var info = new ProcessStartInfo("socat") { UseShellExecute = false, RedirectStandardError = true };
            foreach (var arg in new[] { "-T", "30", $"UDP4-RECVFROM:{port.ToString(CultureInfo.InvariantCulture)},bind=127.0.0.1,fork", "EXEC:cat" })
            {
                info.ArgumentList.Add(arg);
            }

            var echo = new SocatEcho(Process.Start(info)!, port);
            echo.WaitBound();
            return echo;
        }

        /// <summary>Until socat answers (it logs nothing when ready; probing its port with a bind could take it first).</summary>
        private void WaitBound()
        {
            var deadline = Stopwatch.StartNew();
            using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
            probe.Connect(new IPEndPoint(IPAddress.Loopback, Port));
            probe.ReceiveTimeout = 200;
            var buffer = new byte[16];
            while (deadline.Elapsed < Bound)
            {
                try
                {
                    probe.Send("ready?"u8);
                    if (probe.Receive(buffer) > 0)
                    {
                        return;
                    }
                }
                catch (System.Net.Sockets.SocketException)
                {
                    // Not bound yet (port unreachable) or no answer within 200 ms: ask again.
                }
            }

            throw new TimeoutException($"socat did not answer on udp {Port}");
        }

        public void Dispose()
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
            _process.Dispose();
        }
    }
}
