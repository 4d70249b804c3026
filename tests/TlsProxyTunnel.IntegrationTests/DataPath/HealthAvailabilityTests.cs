using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.DataPath;

/// <summary>
/// Clients that try to hold a health server's connections (slow heads, pipelining without reading, idle
/// keep-alive) must not stop probes: each test runs its own process with a small <c>maxclients</c>, as
/// tls-proxy-tunnel's container configuration has.
/// </summary>
public sealed class HealthAvailabilityTests
{
    // The health server's head deadline, write deadline and (capped at 5 s) keep-alive wait come from
    // client_hello_timeout; short here so the tests see every deadline fire, long enough that ten clients
    // are surely all connected and held before the first deadline passes on a loaded machine.
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan KeepAliveDeadline = TimeSpan.FromSeconds(2);

    private static string HealthConfig(int maxClients, TimeSpan deadline) => $"""
        version: 2
        servers:
          health:
            listen: ["127.0.0.1:0"]
            default: health
            maxclients: {maxClients}
            client_hello_timeout: {(int)deadline.TotalMilliseconds}ms
        """;

    [Fact]
    public async Task Ten_clients_sending_a_header_byte_at_a_time_neither_starve_probes_nor_outlive_one_head_deadline()
    {
        using var config = new TempConfig(HealthConfig(10, Deadline));
        await using var tpt = await TptProcess.StartAsync(config.Path, 1);
        var health = tpt.EndPoint("health");
        var baseline = tpt.OpenSocketCount();
        using var stop = new CancellationTokenSource();

        var clients = new List<RawClient>();
        var slow = new List<Task<TimeSpan>>();
        try
        {
            for (var i = 0; i < 10; i++)
            {
                // Timed from before the connect: tpt's head deadline starts once it has accepted, after this, so
                // the measured time is never shorter than tpt's however late this test's continuations run.
                var sinceConnect = Stopwatch.StartNew();
                var client = await RawClient.ConnectAsync(health);
                clients.Add(client);
                slow.Add(DripHeadAsync(client.Socket, TimeSpan.FromMilliseconds(400), sinceConnect, stop.Token));
            }

            await WaitForSocketsAsync(tpt, baseline + 10);

            // All ten are admitted and sending; a probe must still be answered.
            var answer = await HttpProbe.GetAsync(health, "/health");
            Assert.Equal(200, answer.Status);
            Assert.Equal("OK", answer.Body);

            // A byte every 400 ms never lets a per-read timer fire; one deadline for the whole head does.
            foreach (var cut in await Task.WhenAll(slow).WaitAsync(TimeSpan.FromSeconds(30)))
            {
                Assert.InRange(cut, Deadline - TimeSpan.FromMilliseconds(500), Deadline + TimeSpan.FromSeconds(6));
            }
        }
        finally
        {
            await stop.CancelAsync();
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task Ten_clients_pipelining_metrics_without_reading_neither_starve_probes_nor_outlive_the_write_deadline()
    {
        using var config = new TempConfig(HealthConfig(10, Deadline));
        await using var tpt = await TptProcess.StartAsync(config.Path, 1);
        var health = tpt.EndPoint("health");
        var baseline = tpt.OpenSocketCount();
        using var stop = new CancellationTokenSource();

        var clients = new List<RawClient>();
        var flooding = new List<Task>();
        try
        {
            for (var i = 0; i < 10; i++)
            {
                // A small receive window fills after a few responses: the server's writes then stall.
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
                await socket.ConnectAsync(health).WaitAsync(RawClient.Timeout);
                clients.Add(RawClient.Wrap(socket));
                flooding.Add(PipelineWithoutReadingAsync(socket, stop.Token));
            }

            await WaitForSocketsAsync(tpt, baseline + 10);
            var answer = await HttpProbe.GetAsync(health, "/health");
            Assert.Equal(200, answer.Status);

            // Each flooder's connection ends (the access log line is written when it closes) once a write
            // has stalled for the deadline; without a write deadline none of them ever would.
            foreach (var client in clients)
            {
                var local = client.Socket.LocalEndPoint!.ToString();
                var line = await tpt.WaitForLineAsync(l => l.Contains($"client={local} ", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
                Assert.True(line.Contains("outcome=client_error", StringComparison.Ordinal), line);
            }

            Assert.Equal(baseline, await tpt.WaitForSocketCountAsync(baseline));
        }
        finally
        {
            await stop.CancelAsync();
            clients.ForEach(c => c.Dispose());
            await Task.WhenAll(flooding).WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task An_idle_keep_alive_scraper_does_not_hold_the_only_slot_and_is_closed_after_the_keep_alive_wait()
    {
        // tls-proxy-tunnel's own container configuration gives its health server maxclients: 1.
        using var config = new TempConfig(HealthConfig(1, KeepAliveDeadline));
        await using var tpt = await TptProcess.StartAsync(config.Path, 1);
        var health = tpt.EndPoint("health");

        using var scraper = await RawClient.ConnectAsync(health);

        // Timed from before the request: tpt's keep-alive wait starts once it has written the response, after
        // this, so the measured idle time is never shorter than tpt's, however late this test reads the response.
        var idleSince = Stopwatch.StartNew();
        await scraper.SendAsync("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        var (head, _) = await ReadResponseAsync(scraper.Socket);
        Assert.StartsWith("HTTP/1.1 200 OK", head, StringComparison.Ordinal);
        Assert.Contains("Connection: keep-alive", head, StringComparison.Ordinal);

        // Timed when the close arrives, not once the probes below are done: two curl runs on a loaded machine
        // may take longer than the keep-alive wait's slack.
        var closed = ClosedAfterAsync(scraper, idleSince);

        // The scraper sits idle on its keep-alive connection: probes are still answered.
        Assert.Equal(200, (await HttpProbe.GetAsync(health, "/health")).Status);
        Assert.Equal(200, (await HttpProbe.GetAsync(health, "/ready")).Status);

        // ...and the idle connection is closed, cleanly, after the keep-alive wait (client_hello_timeout, at most 5 s).
        var (rest, clean, idle) = await closed;
        Assert.True(clean);
        Assert.Empty(rest);
        Assert.InRange(idle, KeepAliveDeadline - TimeSpan.FromMilliseconds(500), KeepAliveDeadline + TimeSpan.FromSeconds(2.5));
    }

    [Fact]
    public async Task A_health_server_is_not_limited_by_maxclients_but_by_its_own_cap()
    {
        const int cap = 256;
        using var config = new TempConfig(HealthConfig(1, TimeSpan.FromSeconds(60)));
        await using var tpt = await TptProcess.StartAsync(config.Path, 1);
        var health = tpt.EndPoint("health");
        var baseline = tpt.OpenSocketCount();
        Assert.Contains(tpt.Lines, l => l.Contains($"Listening: server health on {health} (tls=False, maxclients={cap}, engine=", StringComparison.Ordinal));

        var silent = new List<RawClient>();
        try
        {
            for (var i = 0; i < cap; i++)
            {
                silent.Add(await RawClient.ConnectAsync(health));
            }

            await WaitForSocketsAsync(tpt, baseline + cap);

            // One more than the cap is refused: closed without an answer.
            using var extra = await RawClient.ConnectAsync(health);
            try
            {
                await extra.SendAsync("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
            }
            catch (SocketException)
            {
                // Already closed by tpt, and reset because of the request: refused either way.
            }

            Assert.Empty((await extra.ReadToEndAsync()).Data);
            await tpt.WaitForLineAsync(l => l.Contains($"maxclients ({cap}) reached on server health", StringComparison.Ordinal));

            // Below the cap again, probes are answered.
            silent[0].Dispose();
            await tpt.WaitForSocketCountAsync(baseline + cap - 1);
            Assert.Equal(200, (await HttpProbe.GetAsync(health, "/health")).Status);
        }
        finally
        {
            silent.ForEach(c => c.Dispose());
        }
    }

    /// <summary>Sends a request head one byte per <paramref name="interval"/>, never finishing it; returns <paramref name="sinceConnect"/> when the server closed.</summary>
    private static async Task<TimeSpan> DripHeadAsync(Socket socket, TimeSpan interval, Stopwatch sinceConnect, CancellationToken stop)
    {
        var head = Encoding.ASCII.GetBytes("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + new string('a', 200));
        var buffer = new byte[256];
        for (var i = 0; i < head.Length; i++)
        {
            try
            {
                await socket.SendAsync(head.AsMemory(i, 1), SocketFlags.None, stop);

                // Waiting for the server's close is the pacing: a close ends the wait at once.
                using var pace = CancellationTokenSource.CreateLinkedTokenSource(stop);
                pace.CancelAfter(interval);
                if (await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, pace.Token) == 0)
                {
                    return sinceConnect.Elapsed;
                }
            }
            catch (OperationCanceledException) when (!stop.IsCancellationRequested)
            {
                // Nothing from the server within the interval: send the next byte.
            }
            catch (SocketException)
            {
                return sinceConnect.Elapsed;
            }
        }

        throw new InvalidOperationException($"the server was still reading the head after {sinceConnect.Elapsed}");
    }

    private static async Task<(byte[] Data, bool Clean, TimeSpan Idle)> ClosedAfterAsync(RawClient client, Stopwatch idleSince)
    {
        var (rest, clean) = await client.ReadToEndAsync(TimeSpan.FromSeconds(15));
        return (rest, clean, idleSince.Elapsed);
    }

    /// <summary>Sends GET /metrics over and over, never reading, until the connection fails or the test ends.</summary>
    private static async Task PipelineWithoutReadingAsync(Socket socket, CancellationToken stop)
    {
        var batch = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 100)));
        try
        {
            while (true)
            {
                await socket.SendAsync(batch, SocketFlags.None, stop);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // Cut by the server (reset) or by the end of the test.
        }
    }

    /// <summary>Reads one response (head and Content-Length body) and returns its head.</summary>
    private static async Task<(string Head, string Body)> ReadResponseAsync(Socket socket)
    {
        var data = new List<byte>();
        var one = new byte[1];
        while (!EndsWithBlankLine(data))
        {
            if (await socket.ReceiveAsync(one.AsMemory(), SocketFlags.None).AsTask().WaitAsync(RawClient.Timeout) == 0)
            {
                throw new IOException("closed inside a response head");
            }

            data.Add(one[0]);
        }

        var head = Encoding.ASCII.GetString([.. data]);
        var lengthLine = head.Split("\r\n").Single(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        var length = int.Parse(lengthLine["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var body = new byte[length];
        var got = 0;
        while (got < length)
        {
            var read = await socket.ReceiveAsync(body.AsMemory(got), SocketFlags.None).AsTask().WaitAsync(RawClient.Timeout);
            if (read == 0)
            {
                throw new IOException("closed inside a response body");
            }

            got += read;
        }

        return (head, Encoding.UTF8.GetString(body));
    }

    private static bool EndsWithBlankLine(List<byte> data) =>
        data.Count >= 4 && data[^4] == '\r' && data[^3] == '\n' && data[^2] == '\r' && data[^1] == '\n';

    /// <summary>Waits until tpt holds at least <paramref name="expected"/> sockets: the clients are accepted, not just queued.</summary>
    private static async Task WaitForSocketsAsync(TptProcess tpt, int expected)
    {
        var deadline = Stopwatch.StartNew();
        while (tpt.OpenSocketCount() < expected)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(15), $"tpt holds {tpt.OpenSocketCount()} sockets, expected {expected}. Output:\n{tpt.AllOutput}");
            await Task.Delay(20);
        }
    }
}
