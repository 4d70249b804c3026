using System.Net;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Reload;

/// <summary>SIGHUP and --watch reloads: validated first, swapped atomically, in-flight connections untouched.</summary>
public sealed partial class ReloadTests
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "rename", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int Rename(string from, string to);

    private static string Config(TestBackend a, TestBackend b, string route, string extraServers = "", int maxClients = 100) => $"""
        version: 2
        servers:
          tls:
            listen: ["127.0.0.1:0"]
            tls: true
            maxclients: {maxClients}
            sni:
              {route}: a
            default: b
          health:
            listen: ["127.0.0.1:0"]
            default: health
        {extraServers}
        upstream:
          a: "tcp://{a.Address}"
          b: "tcp://{b.Address}"
        """;

    private static async Task<RawClient> RouteAsync(IPEndPoint endPoint, byte[] hello, string expectedTag)
    {
        var client = await RawClient.ConnectAsync(endPoint);
        await client.SendAsync(hello);
        Assert.Equal(expectedTag, await client.ReadBannerAsync());
        Assert.Equal(hello, await client.ReadExactlyAsync(hello.Length));
        return client;
    }

    private static async Task FinishAsync(RawClient client)
    {
        client.ShutdownSend();
        var (_, clean) = await client.ReadToEndAsync();
        Assert.True(clean);
        client.Dispose();
    }

    private static Task<string> ReloadedAsync(TptProcess tpt, int generation) =>
        tpt.WaitForLineAsync(l => l.Contains($"Reloaded: generation {generation}", StringComparison.Ordinal));

    [Fact]
    public async Task A_connection_whose_route_is_removed_keeps_flowing_while_new_ones_follow_the_new_routes()
    {
        await using var a = new TestBackend("A");
        await using var b = new TestBackend("B");
        using var config = new TempConfig(Config(a, b, "old.test"));
        await using var tpt = await TptProcess.StartAsync(config.Path, 2);
        var tls = tpt.EndPoint("tls");
        var oldHello = await OpenSsl.CaptureClientHelloAsync("old.test");
        var newHello = await OpenSsl.CaptureClientHelloAsync("new.test");
        var inFlight = await RouteAsync(tls, oldHello, "A");

        File.WriteAllText(config.Path, Config(a, b, "new.test"));
        tpt.Signal(TptProcess.SIGHUP);
        await ReloadedAsync(tpt, 2);

        // The old connection still relays, on the generation it started with.
        var more = Encoding.ASCII.GetBytes("after the reload");
        await inFlight.SendAsync(more);
        Assert.Equal(more, await inFlight.ReadExactlyAsync(more.Length));

        // New connections follow the new table: old.test now falls to default, new.test goes to A.
        await FinishAsync(await RouteAsync(tls, oldHello, "B"));
        await FinishAsync(await RouteAsync(tls, newHello, "A"));
        await FinishAsync(inFlight);
        var seenByA = new[] { a.NextFinished(), a.NextFinished() };
        Assert.Contains(seenByA, c => c.Received.AsSpan().SequenceEqual([.. oldHello, .. more]));

        var metrics = await HttpProbe.GetAsync(tpt.EndPoint("health"), "/metrics");
        Assert.Contains("tpt_config_generation 2", metrics.Body, StringComparison.Ordinal);
        Assert.Contains("tpt_config_reloads_total{result=\"success\"} 1", metrics.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_invalid_configuration_changes_nothing_and_every_error_is_logged()
    {
        await using var a = new TestBackend("A");
        await using var b = new TestBackend("B");
        using var config = new TempConfig(Config(a, b, "old.test"));
        await using var tpt = await TptProcess.StartAsync(config.Path, 2);
        File.WriteAllText(config.Path, Config(a, b, "old.test").Replace("default: b", "default: nowhere\n    maxclient: 3", StringComparison.Ordinal));
        tpt.Signal(TptProcess.SIGHUP);
        await tpt.WaitForLineAsync(l => l.Contains("Reload rejected: 2 error(s); still running generation 1", StringComparison.Ordinal));
        Assert.Contains(tpt.Lines, l => l.Contains("maxclient", StringComparison.Ordinal) && l.Contains("Reload:", StringComparison.Ordinal));
        Assert.Contains(tpt.Lines, l => l.Contains("nowhere", StringComparison.Ordinal) && l.Contains("Reload:", StringComparison.Ordinal));

        var hello = await OpenSsl.CaptureClientHelloAsync("old.test");
        await FinishAsync(await RouteAsync(tpt.EndPoint("tls"), hello, "A"));
        var metrics = await HttpProbe.GetAsync(tpt.EndPoint("health"), "/metrics");
        Assert.Contains("tpt_config_generation 1", metrics.Body, StringComparison.Ordinal);
        Assert.Contains("tpt_config_reloads_total{result=\"failure\"} 1", metrics.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_removed_listener_stops_accepting_and_an_added_one_accepts()
    {
        await using var a = new TestBackend("A");
        await using var b = new TestBackend("B");
        var oldPort = FreePort.Tcp();
        var withOld = $"  old:\n    listen: [\"127.0.0.1:{oldPort}\"]\n    default: echo";
        using var config = new TempConfig(Config(a, b, "x.test", withOld));
        await using var tpt = await TptProcess.StartAsync(config.Path, 3);
        var oldEndPoint = new IPEndPoint(IPAddress.Loopback, oldPort);
        using (var probe = await RawClient.ConnectAsync(oldEndPoint))
        {
        }

        File.WriteAllText(config.Path, Config(a, b, "x.test", "  added:\n    listen: [\"127.0.0.1:0\"]\n    default: echo"));
        tpt.Signal(TptProcess.SIGHUP);
        var reloaded = await ReloadedAsync(tpt, 2);
        Assert.Contains("servers added: added", reloaded, StringComparison.Ordinal);
        Assert.Contains("servers removed: old", reloaded, StringComparison.Ordinal);
        Assert.Contains($"listeners removed: 127.0.0.1:{oldPort}", reloaded, StringComparison.Ordinal);

        await Assert.ThrowsAnyAsync<SocketException>(() => RawClient.ConnectAsync(oldEndPoint));
        using var client = await RawClient.ConnectAsync(tpt.EndPoint("added"));
        await client.SendAsync("ping"u8.ToArray());
        client.ShutdownSend();
        Assert.Equal("ping"u8.ToArray(), (await client.ReadToEndAsync()).Data);
    }

    [Fact]
    public async Task A_lower_maxclients_applies_to_new_connections_only()
    {
        await using var a = new TestBackend("A");
        await using var b = new TestBackend("B");
        using var config = new TempConfig(Config(a, b, "x.test", maxClients: 10));
        await using var tpt = await TptProcess.StartAsync(config.Path, 2);
        var hello = await OpenSsl.CaptureClientHelloAsync("x.test");
        var first = await RouteAsync(tpt.EndPoint("tls"), hello, "A");

        File.WriteAllText(config.Path, Config(a, b, "x.test", maxClients: 1));
        tpt.Signal(TptProcess.SIGHUP);
        await ReloadedAsync(tpt, 2);

        // The held connection counts against the new limit of 1, so the next one is rejected; the held one still works.
        using var second = await RawClient.ConnectAsync(tpt.EndPoint("tls"));
        var (data, _) = await second.ReadToEndAsync();
        Assert.Empty(data);
        await FinishAsync(first);

        // The client sees the end before tpt has closed both sockets and freed the slot; its access-log line
        // is written after that, so it is the signal that the one permitted connection is free again.
        await tpt.WaitForLineAsync(l => l.Contains("sni=x.test", StringComparison.Ordinal) && l.Contains("outcome=", StringComparison.Ordinal));
        await FinishAsync(await RouteAsync(tpt.EndPoint("tls"), hello, "A"));
    }

    [Fact]
    public async Task Watch_follows_a_kubernetes_style_configmap_symlink_swap()
    {
        await using var a = new TestBackend("A");
        await using var b = new TestBackend("B");
        using var scratch = new TempConfig("");
        var dir = scratch.Directory;

        // The layout a ConfigMap volume has: config.yaml -> ..data/config.yaml, ..data -> ..v1.
        Directory.CreateDirectory(Path.Combine(dir, "..v1"));
        Directory.CreateDirectory(Path.Combine(dir, "..v2"));
        File.WriteAllText(Path.Combine(dir, "..v1", "config.yaml"), Config(a, b, "old.test"));
        File.WriteAllText(Path.Combine(dir, "..v2", "config.yaml"), Config(a, b, "new.test"));
        File.CreateSymbolicLink(Path.Combine(dir, "..data"), "..v1");
        var configPath = Path.Combine(dir, "config.yaml");
        File.CreateSymbolicLink(configPath, "..data/config.yaml");

        await using var tpt = await TptProcess.StartAsync(configPath, 2, new Dictionary<string, string?>(), ["--watch"]);
        var newHello = await OpenSsl.CaptureClientHelloAsync("new.test");
        await FinishAsync(await RouteAsync(tpt.EndPoint("tls"), newHello, "B"));

        // Swap atomically, as the kubelet does: a new link renamed over ..data.
        File.CreateSymbolicLink(Path.Combine(dir, "..data_tmp"), "..v2");
        Assert.Equal(0, Rename(Path.Combine(dir, "..data_tmp"), Path.Combine(dir, "..data")));
        await ReloadedAsync(tpt, 2);
        await FinishAsync(await RouteAsync(tpt.EndPoint("tls"), newHello, "A"));
    }
}
