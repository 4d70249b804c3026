using System.Net;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.DataPath;

/// <summary>Start-up failures, graceful drain, idle timeouts and descriptor hygiene: each on its own process.</summary>
public sealed class LifecycleTests
{
    private static string RelayConfig(TestBackend backend, string extra = "") => $"""
        version: 2
        shutdown_timeout: 20s
        servers:
          relay:
            listen: ["127.0.0.1:0"]
            default: backend
        {extra}
        upstream:
          backend: "tcp://{backend.Address}"
        """;

    [Fact]
    public async Task A_port_that_cannot_be_bound_stops_start_up_with_exit_1()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        var port = ((IPEndPoint)taken.LocalEndPoint!).Port;
        using var config = new TempConfig($"""
            version: 2
            servers:
              first:
                listen: ["127.0.0.1:0"]
                default: echo
              clash:
                listen: ["127.0.0.1:{port}"]
                default: echo
            """);
        var (exitCode, _, stderr) = await TptProcess.RunToExitAsync(["-c", config.Path]);
        Assert.Equal(1, exitCode);
        Assert.Contains($"cannot listen on 127.0.0.1:{port}", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ipv4_and_ipv6_wildcards_on_one_port_both_bind()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        probe.Dispose();
        using var config = new TempConfig($"""
            version: 2
            servers:
              both:
                listen: ["127.0.0.1:{port}", "[::1]:{port}"]
                default: echo
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, 2);
        foreach (var endPoint in new[] { new IPEndPoint(IPAddress.Loopback, port), new IPEndPoint(IPAddress.IPv6Loopback, port) })
        {
            using var client = await RawClient.ConnectAsync(endPoint);
            await client.SendAsync("ping"u8.ToArray());
            client.ShutdownSend();
            Assert.Equal("ping"u8.ToArray(), (await client.ReadToEndAsync()).Data);
        }
    }

    [Fact]
    public async Task Sigterm_drains_in_flight_connections_stops_accepting_and_exits_0()
    {
        await using var backend = new TestBackend("B");
        using var config = new TempConfig(RelayConfig(backend));
        await using var tpt = await TptProcess.StartAsync(config.Path, 1);
        var endPoint = tpt.EndPoint("relay");
        using var client = await RawClient.ConnectAsync(endPoint);
        Assert.Equal("B", await client.ReadBannerAsync());

        tpt.Signal(TptProcess.SIGTERM);
        await tpt.WaitForLineAsync(l => l.Contains("draining 1 connections", StringComparison.Ordinal));

        // New connections are refused while the old one keeps flowing.
        await Assert.ThrowsAnyAsync<SocketException>(() => RawClient.ConnectAsync(endPoint));
        var payload = Encoding.ASCII.GetBytes("still flowing during the drain");
        await client.SendAsync(payload);
        Assert.Equal(payload, await client.ReadExactlyAsync(payload.Length));
        Assert.False(tpt.HasExited);

        client.ShutdownSend();
        await client.ReadToEndAsync();
        Assert.Equal(0, await tpt.WaitForExitAsync());
        Assert.Contains(tpt.Lines, l => l.Contains("Shutdown complete", StringComparison.Ordinal));
        Assert.Equal(payload, backend.NextFinished().Received);
    }

    [Fact]
    public async Task Health_listeners_answer_through_the_drain_and_close_when_it_ends()
    {
        await using var backend = new TestBackend("B");
        using var config = new TempConfig(RelayConfig(backend, """
              health:
                listen: ["127.0.0.1:0"]
                default: health
                client_hello_timeout: 60s
            """));
        await using var tpt = await TptProcess.StartAsync(config.Path, 2);
        var relay = tpt.EndPoint("relay");
        var health = tpt.EndPoint("health");
        using var client = await RawClient.ConnectAsync(relay);
        Assert.Equal("B", await client.ReadBannerAsync());

        // A health connection half-way through a head: the drain must not wait for it.
        using var stalledProbe = await RawClient.ConnectAsync(health);
        await stalledProbe.SendAsync("GET /ready HT"u8.ToArray());

        tpt.Signal(TptProcess.SIGTERM);
        await tpt.WaitForLineAsync(l => l.Contains("draining 1 connections", StringComparison.Ordinal));

        // The relay listener is closed; the health listener answers: not ready, but alive.
        await Assert.ThrowsAnyAsync<SocketException>(() => RawClient.ConnectAsync(relay));
        var ready = await HttpProbe.GetAsync(health, "/ready");
        Assert.Equal(503, ready.Status);
        Assert.Equal("NOT READY", ready.Body);
        var alive = await HttpProbe.GetAsync(health, "/health");
        Assert.Equal(200, alive.Status);
        Assert.False(tpt.HasExited);

        // A SIGHUP now (varnishtest's terminal sends one with the TERM) is ignored, not a failed reload.
        tpt.Signal(TptProcess.SIGHUP);
        await tpt.WaitForLineAsync(l => l.Contains("Reload (SIGHUP) ignored: shutting down", StringComparison.Ordinal));
        var metrics = await HttpProbe.GetAsync(health, "/metrics");
        Assert.Contains("tpt_config_reloads_total{result=\"failure\"} 0", metrics.Body, StringComparison.Ordinal);
        Assert.Contains("tpt_config_last_reload_successful 1", metrics.Body, StringComparison.Ordinal);
        Assert.DoesNotContain(tpt.Lines, l => l.Contains("Reload failed", StringComparison.Ordinal));

        // The last relay connection ends: so does the drain, and the health listener closes with it.
        client.ShutdownSend();
        await client.ReadToEndAsync();
        Assert.Equal(0, await tpt.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        await Assert.ThrowsAnyAsync<SocketException>(() => RawClient.ConnectAsync(health));
        Assert.DoesNotContain(tpt.Lines, l => l.Contains("shutdown_timeout reached", StringComparison.Ordinal));
        var (_, clean) = await stalledProbe.ReadToEndAsync();
        Assert.False(clean, "a health connection still open when the drain ends is reset");
    }

    [Fact]
    public async Task A_second_signal_ends_the_drain_at_once()
    {
        await using var backend = new TestBackend("B");
        using var config = new TempConfig(RelayConfig(backend));
        await using var tpt = await TptProcess.StartAsync(config.Path, 1);
        using var client = await RawClient.ConnectAsync(tpt.EndPoint("relay"));
        Assert.Equal("B", await client.ReadBannerAsync());

        tpt.Signal(TptProcess.SIGTERM);
        await tpt.WaitForLineAsync(l => l.Contains("draining 1 connections", StringComparison.Ordinal));
        tpt.Signal(TptProcess.SIGINT);
        Assert.Equal(0, await tpt.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains(tpt.Lines, l => l.Contains("second signal", StringComparison.Ordinal));
        var (_, clean) = await client.ReadToEndAsync();
        Assert.False(clean, "a connection cut at the end of the drain is reset");
    }

    [Fact]
    public async Task The_drain_deadline_cuts_connections_that_do_not_finish()
    {
        await using var backend = new TestBackend("B");
        using var config = new TempConfig(RelayConfig(backend).Replace("shutdown_timeout: 20s", "shutdown_timeout: 500ms", StringComparison.Ordinal));
        await using var tpt = await TptProcess.StartAsync(config.Path, 1);
        using var client = await RawClient.ConnectAsync(tpt.EndPoint("relay"));
        Assert.Equal("B", await client.ReadBannerAsync());
        tpt.Signal(TptProcess.SIGQUIT);
        Assert.Equal(0, await tpt.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains(tpt.Lines, l => l.Contains("shutdown_timeout reached", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Idle_timeout_closes_connections_with_no_traffic()
    {
        await using var backend = new TestBackend("B");
        using var config = new TempConfig(RelayConfig(backend).Replace("default: backend", "default: backend\n    idle_timeout: 300ms", StringComparison.Ordinal));
        await using var tpt = await TptProcess.StartAsync(config.Path, 1);
        using var client = await RawClient.ConnectAsync(tpt.EndPoint("relay"));
        Assert.Equal("B", await client.ReadBannerAsync());
        var (_, clean) = await client.ReadToEndAsync(TimeSpan.FromSeconds(5));
        Assert.False(clean);
        await tpt.WaitForLineAsync(l => l.Contains("outcome=idle_timeout", StringComparison.Ordinal));
    }

    [Fact]
    public async Task No_socket_is_left_open_after_every_kind_of_connection()
    {
        await using var backend = new TestBackend("B");
        using var config = new TempConfig($"""
            version: 2
            servers:
              tls:
                listen: ["127.0.0.1:0"]
                tls: true
                client_hello_timeout: 300ms
                sni:
                  b.test: backend
                  ban.test: ban
                  dead.test: dead
                default: echo
              health:
                listen: ["127.0.0.1:0"]
                default: health
            upstream:
              backend: "tcp://{backend.Address}"
              dead: "tcp://127.0.0.1:1"
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, 2);
        var baseline = tpt.OpenSocketCount();
        var tls = tpt.EndPoint("tls");
        foreach (var name in new[] { "b.test", "ban.test", "dead.test", "echo.test" })
        {
            var hello = await OpenSsl.CaptureClientHelloAsync(name);
            for (var i = 0; i < 5; i++)
            {
                using var client = await RawClient.ConnectAsync(tls);
                await client.SendAsync(hello);
                client.ShutdownSend();
                await client.ReadToEndAsync();
            }
        }

        // Clients that go away in every phase: before sending, mid-hello, with a reset.
        for (var i = 0; i < 5; i++)
        {
            using (await RawClient.ConnectAsync(tls))
            {
            }

            using var partial = await RawClient.ConnectAsync(tls);
            await partial.SendAsync(new byte[] { 0x16, 0x03, 0x01, 0x02 });
            partial.Socket.LingerState = new LingerOption(true, 0);
        }

        await HttpProbe.GetAsync(tpt.EndPoint("health"), "/metrics");
        Assert.Equal(baseline, await tpt.WaitForSocketCountAsync(baseline));
    }
}
