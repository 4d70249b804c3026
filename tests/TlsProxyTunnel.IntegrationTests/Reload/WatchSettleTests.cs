using System.Diagnostics;
using System.Net;
using System.Text;
using TlsProxyTunnel.Hosting;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Reload;

/// <summary>
/// --watch acts on a file only once it is written: a writer that pauses mid-file must not get its first half
/// applied (servers and listeners removed, then put back), and a half that does not parse is not an error yet.
/// </summary>
public sealed class WatchSettleTests
{
    // Longer than the old 200 ms debounce and than the settle period, shorter than the removal settle and the
    // error grace: the writer's pause is what a slow template renderer or a copy over a slow mount looks like.
    private static readonly TimeSpan WriterPause = WatchTiming.Default.Settle + TimeSpan.FromMilliseconds(500);

    private static readonly Dictionary<string, string?> NoEnvironment = [];

    // Upstreams first and the two extra servers last, so a file cut before them still loads: it just has fewer servers.
    private static string Config(TestBackend a, TestBackend b, string route, bool withExtra2 = true) => $"""
        version: 2
        upstream:
          a: "tcp://{a.Address}"
          b: "tcp://{b.Address}"
        servers:
          tls:
            listen: ["127.0.0.1:0"]
            tls: true
            sni:
              {route}: a
            default: b
          health:
            listen: ["127.0.0.1:0"]
            default: health
          extra1:
            listen: ["127.0.0.1:0"]
            default: echo
        """ + (withExtra2 ? "\n  extra2:\n    listen: [\"127.0.0.1:0\"]\n    default: echo\n" : "\n");

    private static async Task WriteInTwoPartsAsync(string path, string content, int cut)
    {
        var bytes = Encoding.UTF8.GetBytes(content);
        await using var stream = new FileStream(path, FileMode.Truncate, FileAccess.Write, FileShare.ReadWrite);
        await stream.WriteAsync(bytes.AsMemory(0, cut));
        await stream.FlushAsync();

        // The pause is the scenario itself (a writer stalled mid-file), not a wait for tpt.
        await Task.Delay(WriterPause);
        await stream.WriteAsync(bytes.AsMemory(cut));
    }

    private static async Task AssertEchoesAsync(IPEndPoint endPoint)
    {
        using var client = await RawClient.ConnectAsync(endPoint);
        await client.SendAsync("ping"u8.ToArray());
        client.ShutdownSend();
        Assert.Equal("ping"u8.ToArray(), (await client.ReadToEndAsync()).Data);
    }

    private static async Task<string> MetricsAsync(TptProcess tpt) => (await HttpProbe.GetAsync(tpt.EndPoint("health"), "/metrics")).Body;

    private static bool IsReloadLine(string line) => line.Contains("Reloaded: generation", StringComparison.Ordinal);

    private static bool IsReloadError(string line) =>
        line.Contains("Reload rejected", StringComparison.Ordinal) || line.Contains("Reload:", StringComparison.Ordinal) || line.Contains("Reload failed", StringComparison.Ordinal);

    [Fact]
    public async Task A_file_written_in_two_parts_is_applied_once_whole_and_its_first_part_never_closes_a_listener()
    {
        await using var a = new TestBackend("A");
        await using var b = new TestBackend("B");
        using var config = new TempConfig(Config(a, b, "old.test"));
        await using var tpt = await TptProcess.StartAsync(config.Path, 4, NoEnvironment, ["--watch"]);
        var extra1 = tpt.EndPoint("extra1");
        var extra2 = tpt.EndPoint("extra2");

        // The first part ends just before extra1: valid on its own, it would remove extra1 and extra2 and their listeners.
        var full = Config(a, b, "new.test");
        await WriteInTwoPartsAsync(config.Path, full, full.IndexOf("  extra1:", StringComparison.Ordinal));

        var reloaded = await tpt.WaitForLineAsync(IsReloadLine);
        Assert.Contains("Reloaded: generation 2;", reloaded, StringComparison.Ordinal);
        Assert.Contains("servers removed: none", reloaded, StringComparison.Ordinal);
        Assert.Contains("listeners removed: none", reloaded, StringComparison.Ordinal);
        Assert.Single(tpt.Lines, IsReloadLine);
        Assert.DoesNotContain(tpt.Lines, IsReloadError);

        // Still the listeners that were bound at start-up, and the new route is in use.
        await AssertEchoesAsync(extra1);
        await AssertEchoesAsync(extra2);
        var hello = await OpenSsl.CaptureClientHelloAsync("new.test");
        using (var client = await RawClient.ConnectAsync(tpt.EndPoint("tls")))
        {
            await client.SendAsync(hello);
            Assert.Equal("A", await client.ReadBannerAsync());
        }

        var metrics = await MetricsAsync(tpt);
        Assert.Contains("tpt_config_generation 2\n", metrics, StringComparison.Ordinal);
        Assert.Contains("tpt_config_reloads_total{result=\"success\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("tpt_config_reloads_total{result=\"failure\"} 0\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_first_part_that_does_not_parse_is_not_reported_and_the_whole_file_is_applied()
    {
        await using var a = new TestBackend("A");
        await using var b = new TestBackend("B");
        using var config = new TempConfig(Config(a, b, "old.test"));
        await using var tpt = await TptProcess.StartAsync(config.Path, 4, NoEnvironment, ["--watch"]);

        // Cut inside extra1's flow sequence: an unterminated '[' is a YAML syntax error.
        var full = Config(a, b, "new.test");
        var extra1 = full.IndexOf("  extra1:", StringComparison.Ordinal);
        await WriteInTwoPartsAsync(config.Path, full, full.IndexOf("127.0.0.1", extra1, StringComparison.Ordinal) + 4);

        var reloaded = await tpt.WaitForLineAsync(IsReloadLine);
        Assert.Contains("Reloaded: generation 2;", reloaded, StringComparison.Ordinal);
        Assert.Contains("servers removed: none", reloaded, StringComparison.Ordinal);
        Assert.DoesNotContain(tpt.Lines, IsReloadError);
        var metrics = await MetricsAsync(tpt);
        Assert.Contains("tpt_config_generation 2\n", metrics, StringComparison.Ordinal);
        Assert.Contains("tpt_config_reloads_total{result=\"failure\"} 0\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_that_stays_broken_is_reported_once_the_grace_period_has_passed()
    {
        await using var a = new TestBackend("A");
        await using var b = new TestBackend("B");
        using var config = new TempConfig(Config(a, b, "old.test"));
        await using var tpt = await TptProcess.StartAsync(config.Path, 4, NoEnvironment, ["--watch"]);

        var written = Stopwatch.StartNew();
        File.WriteAllText(config.Path, Config(a, b, "old.test").Replace("default: b", "default: nowhere", StringComparison.Ordinal));
        await tpt.WaitForLineAsync(l => l.Contains("Reload rejected: 1 error(s); still running generation 1", StringComparison.Ordinal));
        Assert.True(written.Elapsed >= WatchTiming.Default.ErrorGrace, $"reported after {written.Elapsed}, before the grace period");
        Assert.Contains(tpt.Lines, l => l.Contains("Reload:", StringComparison.Ordinal) && l.Contains("nowhere", StringComparison.Ordinal));

        await AssertEchoesAsync(tpt.EndPoint("extra2"));
        var metrics = await MetricsAsync(tpt);
        Assert.Contains("tpt_config_generation 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("tpt_config_reloads_total{result=\"failure\"} 1\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_removal_written_whole_is_applied_once_the_file_has_been_quiet_for_the_removal_settle()
    {
        await using var a = new TestBackend("A");
        await using var b = new TestBackend("B");
        using var config = new TempConfig(Config(a, b, "old.test"));
        await using var tpt = await TptProcess.StartAsync(config.Path, 4, NoEnvironment, ["--watch"]);
        var extra2 = tpt.EndPoint("extra2");

        var written = Stopwatch.StartNew();
        File.WriteAllText(config.Path, Config(a, b, "old.test", withExtra2: false));
        var reloaded = await tpt.WaitForLineAsync(IsReloadLine);
        Assert.True(written.Elapsed >= WatchTiming.Default.RemovalSettle, $"applied after {written.Elapsed}");
        Assert.Contains("servers removed: extra2", reloaded, StringComparison.Ordinal);
        await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(() => RawClient.ConnectAsync(extra2));
    }
}
