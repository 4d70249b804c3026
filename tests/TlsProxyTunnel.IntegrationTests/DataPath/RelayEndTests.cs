using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.Reliability;

namespace TlsProxyTunnel.IntegrationTests.DataPath;

/// <summary>
/// How a relay ends and what the access log says about it: each side's failure keeps its own outcome, a send
/// that makes no progress is bounded by write_timeout, and the bytes of a failed hello are counted.
/// </summary>
public sealed partial class RelayEndTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private static string Config(int backendPort, string serverExtra = "") => $"""
        version: 2
        upstream:
          backend: "tcp://127.0.0.1:{backendPort}"
        servers:
          r:
            listen: ["127.0.0.1:0"]
            tls: true
            client_hello_timeout: 2s
            default: backend
        {serverExtra}
        """;

    [Fact]
    public async Task A_client_reset_mid_relay_is_logged_as_client_error()
    {
        await using var backend = new TestBackend("B");
        await using var tpt = await TptRun.StartAsync(Config(backend.Port), 1);
        using (var client = await RawClient.ConnectAsync(tpt.EndPoint("r")))
        {
            await client.SendAsync(CraftedHello.WithSni("client-reset.test"));
            Assert.Equal("B", await client.ReadBannerAsync());
            await client.SendAsync("ping"u8.ToArray());
            await client.ReadExactlyAsync(CraftedHello.WithSni("client-reset.test").Length + 4);
            client.Socket.LingerState = new LingerOption(true, 0);
        }

        var line = await AccessLineAsync(tpt, "client-reset.test");
        Assert.Equal("client_error", Field(line, "outcome"));
    }

    [Fact]
    public async Task An_upstream_reset_mid_relay_is_logged_as_upstream_error()
    {
        await using var backend = new ScriptedBackend(async socket =>
        {
            var buffer = new byte[4096];
            await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None);
            await socket.SendAsync("partial"u8.ToArray(), SocketFlags.None);
            socket.LingerState = new LingerOption(true, 0);
        });
        await using var tpt = await TptRun.StartAsync(Config(backend.Port), 1);
        using (var client = await RawClient.ConnectAsync(tpt.EndPoint("r")))
        {
            await client.SendAsync(CraftedHello.WithSni("upstream-reset.test"));
            var (_, clean) = await client.ReadToEndAsync();
            Assert.False(clean, "the client is reset when its upstream resets");
        }

        var line = await AccessLineAsync(tpt, "upstream-reset.test");
        Assert.Equal("upstream_error", Field(line, "outcome"));
    }

    [Fact]
    public async Task An_upstream_that_closes_at_once_is_logged_as_upstream_error()
    {
        await using var backend = new ScriptedBackend(_ => Task.CompletedTask);
        await using var tpt = await TptRun.StartAsync(Config(backend.Port), 1);
        using (var client = await RawClient.ConnectAsync(tpt.EndPoint("r")))
        {
            await client.SendAsync(CraftedHello.WithSni("closes.test"));

            // The client keeps talking until tpt ends the connection: the upstream has gone, so those bytes
            // cannot be delivered, and that is the upstream's failure, not the client's or a shutdown's.
            var watch = Stopwatch.StartNew();
            try
            {
                while (watch.Elapsed < Bound)
                {
                    await client.SendAsync("more"u8.ToArray());
                    var buffer = new byte[16];
                    using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
                    try
                    {
                        if (await client.Socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, wait.Token) == 0)
                        {
                            continue;
                        }
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
            }
            catch (SocketException)
            {
                // Reset by tpt: the connection is over.
            }
        }

        var line = await AccessLineAsync(tpt, "closes.test");
        Assert.Equal("upstream_error", Field(line, "outcome"));
    }

    [Fact]
    public async Task A_connection_cut_by_the_shutdown_deadline_is_still_logged_as_aborted()
    {
        await using var backend = new TestBackend("B");
        await using var tpt = await TptRun.StartAsync("shutdown_timeout: 300ms\n" + Config(backend.Port), 1);
        using var client = await RawClient.ConnectAsync(tpt.EndPoint("r"));
        await client.SendAsync(CraftedHello.WithSni("drained.test"));
        Assert.Equal("B", await client.ReadBannerAsync());
        tpt.Process.Signal(TptProcess.SIGTERM);
        var line = await AccessLineAsync(tpt, "drained.test");
        Assert.Equal("aborted", Field(line, "outcome"));
    }

    [Fact]
    public async Task Clients_that_close_while_the_upstream_never_reads_are_released_within_write_timeout()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = new ScriptedBackend(async _ => await release.Task.WaitAsync(TimeSpan.FromSeconds(120)), receiveBuffer: 4096);
        await using var tpt = await TptRun.StartAsync(
            Config(backend.Port, "    write_timeout: 1s\n"),
            1);
        var baseline = tpt.Process.OpenSocketCount();
        const int Clients = 6;
        var watch = Stopwatch.StartNew();
        try
        {
            for (var i = 0; i < Clients; i++)
            {
                using var client = await RawClient.ConnectAsync(tpt.EndPoint("r"));
                await client.SendAsync(CraftedHello.WithSni($"sink{i}.test"));
                await Backpressure.SendUntilBlockedAsync(client.Socket, Bound);
                client.ShutdownSend();
            }

            var count = await tpt.Process.WaitForSocketCountAsync(baseline, Bound);
            output.WriteLine($"released after {watch.Elapsed}");
            Assert.True(count <= baseline, $"tpt still holds {count} sockets (baseline {baseline}) {watch.Elapsed} after the clients closed");
            // Each was held until write_timeout cut it, not freed by anything else (a check of the socket count right
            // after the clients closed raced the timeout on a loaded machine, when filling the windows took over 1 s).
            for (var i = 0; i < Clients; i++)
            {
                var line = await AccessLineAsync(tpt, $"sink{i}.test");
                Assert.Equal("write_timeout", Field(line, "outcome"));
                Assert.True(long.Parse(Field(line, "duration_ms"), CultureInfo.InvariantCulture) >= 1000, line);
            }
        }
        finally
        {
            release.TrySetResult();
        }
    }

    [Fact]
    public async Task An_echo_client_that_never_reads_is_cut_by_write_timeout_even_while_it_stays_connected()
    {
        await using var tpt = await TptRun.StartAsync("""
            version: 2
            servers:
              e:
                listen: ["127.0.0.1:0"]
                default: echo
                write_timeout: 1s
            """, 1);
        var baseline = tpt.Process.OpenSocketCount();
        using var client = await RawClient.ConnectAsync(tpt.EndPoint("e"));
        client.Socket.ReceiveBufferSize = 4096;
        await Backpressure.SendUntilBlockedAsync(client.Socket, Bound);

        // The client is still there, only not reading: the echo's send to it makes no progress.
        var line = await tpt.Process.WaitForLineAsync(l => l.Contains("server=e ", StringComparison.Ordinal) && l.Contains(" outcome=", StringComparison.Ordinal), Bound);
        Assert.Equal("write_timeout", Field(line, "outcome"));
        Assert.True(await tpt.Process.WaitForSocketCountAsync(baseline, Bound) <= baseline);
    }

    [Fact]
    public async Task A_slow_upstream_that_keeps_reading_is_not_cut_by_write_timeout()
    {
        // The client fills every buffer on the way at once (MBs), then the backend reads ~20 KB/s for 3 s: each
        // 64 KiB relay send stays pending longer than write_timeout (2 s), yet the backend keeps making progress.
        // After that it reads at full speed so the test ends.
        var received = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = new ScriptedBackend(
            async socket =>
            {
                var buffer = new byte[2048];
                long total = 0;
                var slow = Stopwatch.StartNew();

                // The pace of a slow reader is the behaviour under test, not a wait for something: one read a tick.
                using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
                while (true)
                {
                    int read;
                    try
                    {
                        read = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None);
                    }
                    catch (SocketException e)
                    {
                        received.TrySetException(new IOException($"tpt cut the slow upstream after {total} bytes", e));
                        throw;
                    }

                    if (read == 0)
                    {
                        break;
                    }

                    total += read;
                    if (slow.Elapsed < TimeSpan.FromSeconds(3))
                    {
                        await pace.WaitForNextTickAsync();
                    }
                }

                received.TrySetResult(total);
                socket.Shutdown(SocketShutdown.Send);
            },
            receiveBuffer: 4096);
        await using var tpt = await TptRun.StartAsync(Config(backend.Port, "    write_timeout: 2s\n"), 1);
        var hello = CraftedHello.WithSni("slow.test");
        var payload = new byte[6 * 1024 * 1024];
        using (var client = await RawClient.ConnectAsync(tpt.EndPoint("r")))
        {
            await client.SendAsync(hello);
            await client.Socket.SendAsync(payload.AsMemory(), SocketFlags.None).AsTask().WaitAsync(TimeSpan.FromSeconds(60));
            client.ShutdownSend();
            Assert.Equal(hello.Length + payload.Length, await received.Task.WaitAsync(TimeSpan.FromSeconds(60)));
            var (_, clean) = await client.ReadToEndAsync(TimeSpan.FromSeconds(10));
            Assert.True(clean);
        }

        var line = await AccessLineAsync(tpt, "slow.test");
        Assert.Equal("completed", Field(line, "outcome"));
    }

    [Fact]
    public async Task A_failed_hello_logs_the_bytes_that_were_read()
    {
        await using var backend = new TestBackend("B");
        await using var tpt = await TptRun.StartAsync(Config(backend.Port), 1);
        var hello = CraftedHello.WithSni("partial.test");
        using (var client = await RawClient.ConnectAsync(tpt.EndPoint("r")))
        {
            // Half a hello, then the client goes: nothing can be routed, but 40 bytes were read.
            await client.SendAsync(hello.AsMemory(0, 40));
            client.ShutdownSend();
            await client.ReadToEndAsync();
        }

        var line = await tpt.Process.WaitForLineAsync(l => l.Contains("hello=client_closed", StringComparison.Ordinal), Bound);
        Assert.Equal("40", Field(line, "rx"));
        Assert.Equal("hello_failed", Field(line, "outcome"));
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
