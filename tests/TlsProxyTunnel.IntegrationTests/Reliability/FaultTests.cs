using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Reliability;

/// <summary>
/// One injected fault per test, through the real binary: the faulty connection ends, other connections keep
/// being served, and every socket tpt opened for it is closed again.
/// </summary>
public sealed class FaultTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Backend_refuses_the_client_is_closed_and_others_are_served()
    {
        using var deadPort = new RefusingPort();
        await using var router = await Router.StartAsync($"dead: \"tcp://127.0.0.1:{deadPort.Port}\"", "dead.test: dead");
        using (var client = await RawClient.ConnectAsync(router.EndPoint))
        {
            await client.SendAsync(CraftedHello.WithSni("dead.test"));
            var (data, _) = await client.ReadToEndAsync();
            Assert.Empty(data);
        }

        await router.AssertServesAndReleasesAsync();
        await router.Tpt.WaitForLineAsync(l => l.Contains("outcome=upstream_unreachable", StringComparison.Ordinal) || l.Contains("Refused", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Backend_resets_mid_stream_the_client_sees_the_end_and_others_are_served()
    {
        await using var backend = new ScriptedBackend(async socket =>
        {
            var buffer = new byte[4096];
            await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None);
            await socket.SendAsync("partial answer"u8.ToArray(), SocketFlags.None);
            socket.LingerState = new LingerOption(true, 0);
        });
        await using var router = await Router.StartAsync($"resets: \"tcp://127.0.0.1:{backend.Port}\"", "reset.test: resets");
        using (var client = await RawClient.ConnectAsync(router.EndPoint))
        {
            await client.SendAsync(CraftedHello.WithSni("reset.test"));
            var (data, _) = await client.ReadToEndAsync();
            Assert.True(data.Length <= "partial answer".Length);
        }

        await router.AssertServesAndReleasesAsync();
    }

    [Fact]
    public async Task Backend_never_reads_the_client_is_back_pressured_and_memory_stays_bounded()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = new ScriptedBackend(async socket => await release.Task.WaitAsync(TimeSpan.FromSeconds(60)), receiveBuffer: 4096);
        await using var router = await Router.StartAsync($"sink: \"tcp://127.0.0.1:{backend.Port}\"", "sink.test: sink");
        var rssBefore = ProcessProbe.RssKib(router.Tpt.Pid);
        const long Limit = 200L * 1024 * 1024;
        long sent = 0;
        var stalled = false;
        using (var client = await RawClient.ConnectAsync(router.EndPoint))
        {
            await client.SendAsync(CraftedHello.WithSni("sink.test"));
            var chunk = new byte[256 * 1024];
            var watch = Stopwatch.StartNew();
            while (sent < Limit && watch.Elapsed < TimeSpan.FromSeconds(20))
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(700));
                try
                {
                    sent += await client.Socket.SendAsync(chunk, SocketFlags.None, timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    stalled = true;
                    break;
                }
            }

            var rssDuring = ProcessProbe.RssKib(router.Tpt.Pid);
            Assert.True(stalled, $"the client was never back-pressured; sent {sent} bytes");
            Assert.True(sent < 64L * 1024 * 1024, $"{sent} bytes accepted before back-pressure");
            Assert.True(rssDuring - rssBefore < 32 * 1024, $"tpt RSS grew from {rssBefore} to {rssDuring} KiB while holding back {sent} bytes");
            output.WriteLine($"back-pressure after {sent / 1024} KiB; RSS {rssBefore} -> {rssDuring} KiB");

            // Other clients are not held up by the stuck one.
            await router.AssertServesAsync();
            client.Socket.LingerState = new LingerOption(true, 0);
        }

        // tpt is still blocked writing to the backend; once the backend goes, both sides are released.
        release.SetResult();
        await router.AssertReleasedAsync();
    }

    [Fact]
    public async Task Connect_proxy_closing_mid_handshake_ends_that_connection_only()
    {
        await using var proxy = new RecordingProxy(ProxyBehaviour.CloseMidHandshake);
        await using var router = await Router.StartAsync(
            $"proxy: \"tcp://127.0.0.1:{proxy.Port}\"",
            "proxied.test: {upstream: proxy, via: {target: \"inner.test:443\", handshake_timeout: 5s}}");
        using (var client = await RawClient.ConnectAsync(router.EndPoint))
        {
            await client.SendAsync(CraftedHello.WithSni("proxied.test"));
            var (data, _) = await client.ReadToEndAsync();
            Assert.Empty(data);
        }

        Assert.True(proxy.Requests.TryPeek(out var request));
        Assert.StartsWith("CONNECT inner.test:443 HTTP/1.1", request, StringComparison.Ordinal);
        await router.Tpt.WaitForLineAsync(l => l.Contains("outcome=proxy_failed", StringComparison.Ordinal));
        await router.AssertServesAndReleasesAsync();
    }

    [Fact]
    public async Task Client_reset_mid_stream_releases_both_sides()
    {
        await using var backend = new TestBackend("B");
        await using var router = await Router.StartAsync($"b: \"tcp://{backend.Address}\"", "b.test: b");
        using (var client = await RawClient.ConnectAsync(router.EndPoint))
        {
            await client.SendAsync(CraftedHello.WithSni("b.test"));
            Assert.Equal("B", await client.ReadBannerAsync());
            var payload = new byte[1024 * 1024];
            Random.Shared.NextBytes(payload);
            await client.SendAsync(payload);
            await client.ReadExactlyAsync(1000);
            client.Socket.LingerState = new LingerOption(true, 0);
        }

        var seen = backend.NextFinished(Bound);
        Assert.True(seen.Received.Length > 1000);
        await router.Tpt.WaitForLineAsync(l => l.Contains("sni=b.test", StringComparison.Ordinal) && l.Contains("outcome=", StringComparison.Ordinal));
        await router.AssertServesAndReleasesAsync();
    }

    [Fact]
    public async Task Near_the_descriptor_limit_connections_are_shed_and_at_the_limit_accept_backs_off_then_recovers()
    {
        await using var router = await Router.StartAsync("", "", extraServer: "echo_srv:\n    listen: [\"127.0.0.1:0\"]\n    default: echo\n", listeners: 2);
        var echo = router.Tpt.EndPoint("echo_srv");
        var pid = router.Tpt.Pid;
        var clients = new List<RawClient>();
        try
        {
            // Room for a few connections above the reserve tpt keeps for its runtime: the rest are shed at once.
            var limit = ProcessProbe.OpenFileCount(pid) + 64 + 16;
            ProcessProbe.SetSoftFileLimit(pid, limit);
            await router.Tpt.WaitForLineAsync(l => l.Contains("Open-file limit changed from", StringComparison.Ordinal) && l.EndsWith($" to {limit}", StringComparison.Ordinal), Bound);
            var served = 0;
            for (var i = 0; i < 30; i++)
            {
                var client = await RawClient.ConnectAsync(echo);
                clients.Add(client);
                await client.SendAsync(new[] { (byte)i });
                var (data, _) = await ReadSomeAsync(client);
                served += data.Length == 1 ? 1 : 0;
            }

            output.WriteLine($"{served} of 30 served near the limit");
            Assert.InRange(served, 1, 25);
            await router.Tpt.WaitForLineAsync(l => l.Contains("Near the open-file limit", StringComparison.Ordinal), Bound);

            // At the limit itself accept(2) fails with EMFILE: the loop logs, backs off and goes on. The limit goes
            // a few below the count, because descriptors closing meanwhile (shed sockets, runtime pipes) would
            // otherwise leave room and turn EMFILE into one more shed connection.
            ProcessProbe.SetSoftFileLimit(pid, ProcessProbe.OpenFileCount(pid) - 4);
            for (var i = 0; i < 5; i++)
            {
                clients.Add(await RawClient.ConnectAsync(echo));
            }

            var line = await router.Tpt.WaitForLineAsync(l => l.Contains("Accepting on", StringComparison.Ordinal) && l.Contains("failed", StringComparison.Ordinal), Bound);
            Assert.Contains("TooManyOpenSockets", line, StringComparison.Ordinal);
            Assert.False(router.Tpt.HasExited);
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        // Descriptors free up as those connections end; the backlog drains and new clients are served.
        ProcessProbe.SetSoftFileLimit(pid, 4096);
        try
        {
            await router.AssertReleasedAsync();
            using var fresh = await RawClient.ConnectAsync(echo);
            await fresh.SendAsync("ping"u8.ToArray());
            Assert.Equal("ping"u8.ToArray(), await fresh.ReadExactlyAsync(4));
            await router.AssertServesAsync();
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"{e}\n--- tpt output:\n{router.Tpt.AllOutput}");
        }
    }

    private static async Task<(byte[] Data, bool Clean)> ReadSomeAsync(RawClient client)
    {
        var buffer = new byte[16];
        try
        {
            var read = await client.Socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Bound);
            return (buffer[..read], true);
        }
        catch (SocketException)
        {
            return ([], false);
        }
    }

    [Fact]
    public async Task Maxclients_flood_rejects_the_excess_at_once_and_the_admitted_keep_working()
    {
        await using var router = await Router.StartAsync(
            "",
            "",
            extraServer: "capped:\n    listen: [\"127.0.0.1:0\"]\n    default: echo\n    maxclients: 10\n  health:\n    listen: [\"127.0.0.1:0\"]\n    default: health\n",
            listeners: 3);
        var capped = router.Tpt.EndPoint("capped");
        var admitted = new List<RawClient>();
        for (var i = 0; i < 10; i++)
        {
            var client = await RawClient.ConnectAsync(capped);
            await client.SendAsync(new[] { (byte)i });
            Assert.Equal(i, (await client.ReadExactlyAsync(1))[0]);
            admitted.Add(client);
        }

        var watch = Stopwatch.StartNew();
        const int Flood = 1000;
        var cleanEnds = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, Flood), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (_, _) =>
        {
            using var client = await RawClient.ConnectAsync(capped);
            var (data, _) = await client.ReadToEndAsync(Bound);
            Assert.Empty(data);
            Interlocked.Increment(ref cleanEnds);
        });
        output.WriteLine($"{Flood} rejected in {watch.ElapsedMilliseconds} ms");
        Assert.Equal(Flood, cleanEnds);
        // Each rejected client's close within Bound is the check (held clients would never be closed); this is a
        // generous bound on the whole flood.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"rejecting took {watch.Elapsed}");

        foreach (var client in admitted)
        {
            await client.SendAsync("still here"u8.ToArray());
            Assert.Equal("still here"u8.ToArray(), await client.ReadExactlyAsync(10));
        }

        var health = await HttpProbe.GetAsync(router.Tpt.EndPoint("health"), "/metrics");
        Assert.Equal(200, health.Status);
        Assert.Contains($"tpt_connections_rejected_total{{name=\"capped\"}} {Flood}", health.Body, StringComparison.Ordinal);
        Assert.Contains("tpt_connections_accepted_total{name=\"capped\"} 10", health.Body, StringComparison.Ordinal);

        foreach (var client in admitted)
        {
            client.Dispose();
        }

        await router.AssertReleasedAsync();
    }

    /// <summary>tpt with a TLS server "r" whose default is a healthy backend, plus the faulty routes under test.</summary>
    private sealed class Router : IAsyncDisposable
    {
        private readonly TempConfig _config;
        private readonly TestBackend _healthy;
        private int _baseline;

        private Router(TempConfig config, TestBackend healthy, TptProcess tpt)
        {
            _config = config;
            _healthy = healthy;
            Tpt = tpt;
        }

        public TptProcess Tpt { get; }

        public IPEndPoint EndPoint => Tpt.EndPoint("r");

        public static async Task<Router> StartAsync(string upstreams, string sni, string extraServer = "", int listeners = 1)
        {
            var healthy = new TestBackend("HEALTHY");
            var config = new TempConfig($"""
                version: 2
                upstream:
                  healthy: "tcp://{healthy.Address}"
                  {upstreams}
                servers:
                  r:
                    listen: ["127.0.0.1:0"]
                    tls: true
                    client_hello_timeout: 2s
                    sni:
                      {(sni.Length == 0 ? "ok.test: healthy" : sni)}
                    default: healthy
                  {extraServer}
                """);
            var tpt = await TptProcess.StartAsync(config.Path, listeners);
            var router = new Router(config, healthy, tpt);
            router._baseline = tpt.OpenSocketCount();
            return router;
        }

        public async Task AssertServesAsync()
        {
            using var client = await RawClient.ConnectAsync(EndPoint);
            var hello = CraftedHello.WithSni("other.test");
            await client.SendAsync(hello);
            Assert.Equal("HEALTHY", await client.ReadBannerAsync());
            await client.SendAsync("ping"u8.ToArray());
            client.ShutdownSend();
            var (data, clean) = await client.ReadToEndAsync();
            Assert.True(clean);
            Assert.Equal(hello.Concat("ping"u8.ToArray()).ToArray(), data);
        }

        public async Task AssertReleasedAsync()
        {
            var count = await Tpt.WaitForSocketCountAsync(_baseline, Bound);
            Assert.True(count <= _baseline, $"tpt holds {count} sockets, baseline {_baseline}");
        }

        public async Task AssertServesAndReleasesAsync()
        {
            await AssertServesAsync();
            await AssertReleasedAsync();
        }

        public async ValueTask DisposeAsync()
        {
            await Tpt.DisposeAsync();
            await _healthy.DisposeAsync();
            _config.Dispose();
        }
    }
}
