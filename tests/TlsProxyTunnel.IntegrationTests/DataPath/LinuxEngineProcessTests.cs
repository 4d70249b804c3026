using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.Reliability;

namespace TlsProxyTunnel.IntegrationTests.DataPath;

/// <summary>
/// The real binary with its servers on the Linux engine (TPT_ENGINE=linux given to the child, and each test checks
/// the server says engine=linux): what a hostile or idle client does to it, and that the timeouts, the drain and
/// maxclients still hold there.
/// </summary>
public sealed class LinuxEngineProcessTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(2);

    private static readonly Dictionary<string, string?> OnEngine = new() { ["TPT_ENGINE"] = "linux" };

    private static string Config(int backendPort, string serverExtra = "") => $"""
        version: 2
        upstream:
          backend: "tcp://127.0.0.1:{backendPort}"
        servers:
          r:
            listen: ["127.0.0.1:0"]
            tls: true
            client_hello_timeout: {HelloTimeout.TotalSeconds}s
            default: backend
        {serverExtra}
          health:
            listen: ["127.0.0.1:0"]
            default: health
        """;

    [Fact]
    public async Task A_slowloris_client_does_not_hold_up_others_and_is_cut_at_client_hello_timeout()
    {
        await using var backend = new TestBackend("B");
        await using var tpt = await StartAsync(Config(backend.Port), 2);
        var endPoint = tpt.EndPoint("r");

        // More slow clients than loops, so every loop carries some; each sends half a hello and then nothing.
        const int Slow = 16;
        var hello = CraftedHello.WithSni("slow.test");
        var slow = new List<(Socket Socket, Stopwatch Watch)>();
        for (var i = 0; i < Slow; i++)
        {
            var watch = Stopwatch.StartNew();
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(endPoint).WaitAsync(Bound);
            await socket.SendAsync(hello.AsMemory(0, hello.Length / 2), SocketFlags.None);
            slow.Add((socket, watch));
        }

        // tpt has taken each half hello in (its reader is waiting for the rest, not yet to read).
        foreach (var (socket, _) in slow)
        {
            Assert.True(await PeerReceiveQueue.WaitUntilReadAsync(socket, Bound), "tpt did not read a slow client's bytes");
        }

        var ends = slow.Select(s => EndAsync(s.Socket, s.Watch)).ToArray();
        for (var i = 0; i < 4; i++)
        {
            var watch = Stopwatch.StartNew();
            using var client = await RawClient.ConnectAsync(endPoint);
            await client.SendAsync(CraftedHello.WithSni($"normal{i}.test"));
            Assert.Equal("B", await client.ReadBannerAsync());
            Assert.True(watch.Elapsed < HelloTimeout, $"a normal client took {watch.Elapsed}, as long as the slow ones' timeout");
        }

        Assert.Contains(ends, t => !t.IsCompleted);
        var cut = await Task.WhenAll(ends).WaitAsync(Bound);
        output.WriteLine($"slow clients cut after {cut.Min().TotalSeconds:0.00}..{cut.Max().TotalSeconds:0.00} s");
        Assert.All(cut, c => Assert.InRange(c.TotalSeconds, HelloTimeout.TotalSeconds - 0.3, HelloTimeout.TotalSeconds + 10));
        Assert.Equal(Slow, (await WaitForLinesAsync(tpt, l => l.Contains(" hello=stalled", StringComparison.Ordinal), Slow)).Count);
        foreach (var (socket, _) in slow)
        {
            socket.Dispose();
        }

        static async Task<TimeSpan> EndAsync(Socket socket, Stopwatch watch)
        {
            try
            {
                await socket.ReceiveAsync(new byte[16].AsMemory(), SocketFlags.None).AsTask().WaitAsync(Bound);
            }
            catch (SocketException)
            {
                // A reset is a cut too.
            }

            return watch.Elapsed;
        }
    }

    [Fact]
    public async Task A_flood_of_connections_reset_at_once_leaves_the_process_serving_and_its_descriptors_at_baseline()
    {
        await using var backend = new TestBackend("B");
        await using var tpt = await StartAsync(Config(backend.Port, "    maxclients: 1000\n"), 2);
        var endPoint = tpt.EndPoint("r");

        // A first client and a scrape make whatever tpt opens lazily open before the baseline is taken.
        await AssertServesAsync(endPoint, "warm.test");
        Assert.Equal(200, (await HttpProbe.GetAsync(tpt.EndPoint("health"), "/metrics")).Status);
        await AccessLineAsync(tpt, "warm.test");
        var baseline = ProcessProbe.OpenFileCount(tpt.Process.Pid);
        var socketBaseline = tpt.Process.OpenSocketCount();

        // Connect and reset: a third before sending anything, a third after half a hello, a third after a whole
        // hello (so the reset reaches the hello read, the upstream connect or the relay).
        const int Flood = 500;
        var hello = CraftedHello.WithSni("flood.test");
        await Parallel.ForEachAsync(Enumerable.Range(0, Flood), new ParallelOptions { MaxDegreeOfParallelism = 50 }, async (i, ct) =>
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(endPoint, ct).AsTask().WaitAsync(Bound, ct);
            if (i % 3 > 0)
            {
                await socket.SendAsync(hello.AsMemory(0, i % 3 == 1 ? hello.Length / 2 : hello.Length), SocketFlags.None, ct);
            }

            socket.LingerState = new LingerOption(true, 0);
        });

        Assert.False(tpt.Process.HasExited);

        // Every socket back (none kept by a reset the engine missed); other descriptors within a few (the runtime
        // maps assemblies it loads late), so that something opened per connection and kept still shows.
        Assert.True(
            await EventuallyAsync(() => tpt.Process.OpenSocketCount() <= socketBaseline),
            $"tpt holds {tpt.Process.OpenSocketCount()} sockets, {socketBaseline} before the flood");
        Assert.InRange(ProcessProbe.OpenFileCount(tpt.Process.Pid), 0, baseline + 8);

        await AssertServesAsync(endPoint, "after.test");
        var metrics = await HttpProbe.GetAsync(tpt.EndPoint("health"), "/metrics");
        Assert.Equal(200, metrics.Status);
        Assert.Contains("tpt_engine_info{name=\"r\",engine=\"linux\"} 1", metrics.Body, StringComparison.Ordinal);
        Assert.Contains("tpt_connections_rejected_total{name=\"r\"} 0", metrics.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Idle_timeout_cuts_a_relayed_engine_connection_with_both_sides_released_and_logged()
    {
        await using var backend = new TestBackend("B");
        await using var tpt = await StartAsync(Config(backend.Port, "    idle_timeout: 1s\n"), 2);
        var baseline = tpt.Process.OpenSocketCount();
        using var client = await RawClient.ConnectAsync(tpt.EndPoint("r"));
        var watch = Stopwatch.StartNew();
        await client.SendAsync(CraftedHello.WithSni("idle.test"));
        Assert.Equal("B", await client.ReadBannerAsync());

        var (_, clean) = await client.ReadToEndAsync(Bound);
        Assert.False(clean, "an idle cut is a reset, not a clean end");
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(950), $"cut after {watch.Elapsed}, before idle_timeout");
        var line = await AccessLineAsync(tpt, "idle.test");
        Assert.Equal("idle_timeout", Field(line, "outcome"));

        // The upstream side was cut too, not left for the backend to close.
        Assert.False(backend.NextFinished(Bound).SawEof);
        Assert.True(await tpt.Process.WaitForSocketCountAsync(baseline, Bound) <= baseline);
    }

    [Fact]
    public async Task Write_timeout_cuts_an_engine_relay_whose_upstream_never_reads()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = new ScriptedBackend(async _ => await release.Task.WaitAsync(TimeSpan.FromSeconds(120)), receiveBuffer: 4096);
        await using var tpt = await StartAsync(Config(backend.Port, "    write_timeout: 1s\n"), 2);
        var baseline = tpt.Process.OpenSocketCount();
        try
        {
            using var client = await RawClient.ConnectAsync(tpt.EndPoint("r"));
            await client.SendAsync(CraftedHello.WithSni("sink.test"));
            await Backpressure.SendUntilBlockedAsync(client.Socket, Bound);

            // The client stays connected and idle: only the stalled send towards the upstream can end this.
            var line = await AccessLineAsync(tpt, "sink.test");
            Assert.Equal("write_timeout", Field(line, "outcome"));
            Assert.True(long.Parse(Field(line, "duration_ms"), CultureInfo.InvariantCulture) >= 1000, line);
            Assert.True(await tpt.Process.WaitForSocketCountAsync(baseline, Bound) <= baseline);
        }
        finally
        {
            release.TrySetResult();
        }
    }

    [Fact]
    public async Task Write_timeout_cuts_an_engine_relay_whose_client_never_reads()
    {
        // The upstream floods; the client takes nothing after its hello.
        await using var backend = new ScriptedBackend(async socket =>
        {
            var chunk = new byte[64 * 1024];
            while (true)
            {
                await socket.SendAsync(chunk, SocketFlags.None);
            }
        });
        await using var tpt = await StartAsync(Config(backend.Port, "    write_timeout: 1s\n"), 2);
        var baseline = tpt.Process.OpenSocketCount();
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(tpt.EndPoint("r")).WaitAsync(Bound);
        using var client = RawClient.Wrap(socket);
        await client.SendAsync(CraftedHello.WithSni("deaf.test"));

        var line = await AccessLineAsync(tpt, "deaf.test");
        Assert.Equal("write_timeout", Field(line, "outcome"));
        Assert.True(await tpt.Process.WaitForSocketCountAsync(baseline, Bound) <= baseline);
    }

    [Fact]
    public async Task Sigterm_drains_engine_connections_stops_accepting_and_exits_0()
    {
        await using var backend = new TestBackend("B");
        await using var tpt = await StartAsync(Config(backend.Port), 2);
        var endPoint = tpt.EndPoint("r");
        using var first = await RawClient.ConnectAsync(endPoint);
        await first.SendAsync(CraftedHello.WithSni("first.test"));
        Assert.Equal("B", await first.ReadBannerAsync());
        using var second = await RawClient.ConnectAsync(endPoint);
        await second.SendAsync(CraftedHello.WithSni("second.test"));
        Assert.Equal("B", await second.ReadBannerAsync());

        tpt.Process.Signal(TptProcess.SIGTERM);
        await tpt.Process.WaitForLineAsync(l => l.Contains("draining 2 connections", StringComparison.Ordinal), Bound);
        await Assert.ThrowsAnyAsync<SocketException>(() => RawClient.ConnectAsync(endPoint));

        // Both keep flowing, both ways, and end one after the other.
        foreach (var (client, sni) in new[] { (first, "first.test"), (second, "second.test") })
        {
            await client.ReadExactlyAsync(CraftedHello.WithSni(sni).Length);
            var payload = Encoding.ASCII.GetBytes($"{sni} still flowing during the drain");
            await client.SendAsync(payload);
            Assert.Equal(payload, await client.ReadExactlyAsync(payload.Length));
            Assert.False(tpt.Process.HasExited);
            client.ShutdownSend();
            var (rest, clean) = await client.ReadToEndAsync(Bound);
            Assert.Empty(rest);
            Assert.True(clean);
            Assert.Equal("completed", Field(await AccessLineAsync(tpt, sni), "outcome"));
        }

        Assert.Equal(0, await tpt.Process.WaitForExitAsync(Bound));
        Assert.Contains(tpt.Process.Lines, l => l.Contains("Shutdown complete", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_drain_deadline_cuts_engine_connections_that_do_not_finish()
    {
        await using var backend = new TestBackend("B");
        await using var tpt = await StartAsync(Config(backend.Port).Replace("servers:", "shutdown_timeout: 1s\nservers:", StringComparison.Ordinal), 2);
        using var client = await RawClient.ConnectAsync(tpt.EndPoint("r"));
        await client.SendAsync(CraftedHello.WithSni("stuck.test"));
        Assert.Equal("B", await client.ReadBannerAsync());

        tpt.Process.Signal(TptProcess.SIGTERM);
        await client.ReadExactlyAsync(CraftedHello.WithSni("stuck.test").Length);
        var (_, clean) = await client.ReadToEndAsync(Bound);
        Assert.False(clean);
        Assert.Equal("aborted", Field(await AccessLineAsync(tpt, "stuck.test"), "outcome"));
        Assert.Equal(0, await tpt.Process.WaitForExitAsync(Bound));
    }

    [Fact]
    public async Task Maxclients_on_an_engine_server_turns_the_excess_away_and_frees_a_place_when_one_closes()
    {
        await using var backend = new TestBackend("B");
        await using var tpt = await StartAsync(Config(backend.Port, "    maxclients: 3\n"), 2);
        var endPoint = tpt.EndPoint("r");
        var admitted = new List<RawClient>();
        for (var i = 0; i < 3; i++)
        {
            var client = await RawClient.ConnectAsync(endPoint);
            await client.SendAsync(CraftedHello.WithSni($"in{i}.test"));
            Assert.Equal("B", await client.ReadBannerAsync());
            admitted.Add(client);
        }

        for (var i = 0; i < 5; i++)
        {
            using var excess = await RawClient.ConnectAsync(endPoint);
            var (data, _) = await excess.ReadToEndAsync(Bound);
            Assert.Empty(data);
        }

        // The admitted still relay; closing one frees its place for the next client.
        await admitted[0].SendAsync("x"u8.ToArray());
        admitted[0].ShutdownSend();
        await admitted[0].ReadToEndAsync(Bound);
        admitted[0].Dispose();
        Assert.Equal("completed", Field(await AccessLineAsync(tpt, "in0.test"), "outcome"));
        await AssertServesAsync(endPoint, "next.test");

        var metrics = await HttpProbe.GetAsync(tpt.EndPoint("health"), "/metrics");
        Assert.Contains("tpt_connections_rejected_total{name=\"r\"} 5", metrics.Body, StringComparison.Ordinal);
        foreach (var client in admitted)
        {
            client.Dispose();
        }
    }

    /// <summary>Starts tpt on the Linux engine; fails if server <c>r</c> does not say it runs there.</summary>
    private static async Task<TptRun> StartAsync(string yaml, int listeners)
    {
        var tpt = await TptRun.StartAsync(yaml, listeners, OnEngine);
        Assert.Contains(tpt.Process.Lines, l => l.Contains("Listening: server r ", StringComparison.Ordinal) && l.EndsWith(", engine=linux)", StringComparison.Ordinal));
        return tpt;
    }

    private static async Task AssertServesAsync(IPEndPoint endPoint, string sni)
    {
        using var client = await RawClient.ConnectAsync(endPoint);
        var hello = CraftedHello.WithSni(sni);
        await client.SendAsync(hello);
        Assert.Equal("B", await client.ReadBannerAsync());
        await client.SendAsync("ping"u8.ToArray());
        client.ShutdownSend();
        var (data, clean) = await client.ReadToEndAsync(Bound);
        Assert.True(clean);
        Assert.Equal([.. hello, .. "ping"u8.ToArray()], data);
    }

    private static async Task<List<string>> WaitForLinesAsync(TptRun tpt, Func<string, bool> predicate, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await tpt.Process.WaitForLineAsync(predicate, Bound, skipSeen: i);
        }

        return [.. tpt.Process.Lines.Where(predicate)];
    }

    /// <summary>Polls process state that no line announces (its descriptors).</summary>
    private static async Task<bool> EventuallyAsync(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > Bound)
            {
                return false;
            }

            await Task.Delay(50);
        }

        return true;
    }

    private static async Task<string> AccessLineAsync(TptRun tpt, string sni) =>
        await tpt.Process.WaitForLineAsync(l => l.Contains($"sni={sni} ", StringComparison.Ordinal) && l.Contains(" outcome=", StringComparison.Ordinal), Bound);

    private static string Field(string line, string name)
    {
        var match = Regex.Match(line, $@"\b{name}=(\S+)");
        Assert.True(match.Success, $"no {name}= in: {line}");
        return match.Groups[1].Value;
    }
}
