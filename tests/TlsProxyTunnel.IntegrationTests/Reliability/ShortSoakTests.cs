using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.Soak;

namespace TlsProxyTunnel.IntegrationTests.Reliability;

/// <summary>The soak in short (bench/soak/soak.sh runs the 10-minute, 5 000-connection version).</summary>
public sealed class ShortSoakTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task Hold_500_and_churn_for_30_seconds_every_byte_verified_sockets_and_memory_back_to_baseline()
    {
        await using var backend = new EchoBackend();
        using var config = new TempConfig($"""
            version: 2
            log: warn
            upstream:
              echo_backend: "tcp://127.0.0.1:{backend.Port}"
            servers:
              r:
                listen: ["127.0.0.1:0"]
                tls: true
                maxclients: 2000
                sni:
                  soak.test: echo_backend
                default: ban
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, 1, new Dictionary<string, string?> { ["TPT_LOG"] = "info" });
        // The baseline is a process that has already carried this traffic for a moment: right after start the JIT
        // has not compiled the data path yet, and that code (not the load's garbage) would count as kept memory.
        var baseline = tpt.OpenSocketCount();
        var warmUp = await SoakDriver.RunAsync(tpt.EndPoint("r"), CraftedHello.WithSni("soak.test"), new SoakOptions(Hold: 0, ChurnWorkers: 2, Duration: TimeSpan.FromSeconds(1), MaxPayload: 16 * 1024), output.WriteLine);
        Assert.True(warmUp.Errors == 0, string.Join("\n", warmUp.ErrorSamples));
        await tpt.WaitForSocketCountAsync(baseline, TimeSpan.FromSeconds(15));
        var rssBefore = ProcessProbe.RssKib(tpt.Pid);
        var result = await SoakDriver.RunAsync(tpt.EndPoint("r"), CraftedHello.WithSni("soak.test"), new SoakOptions(Hold: 500, ChurnWorkers: 16, Duration: TimeSpan.FromSeconds(30), MaxPayload: 256 * 1024), output.WriteLine);
        output.WriteLine(result.ToString());
        Assert.True(result.Errors == 0, string.Join("\n", result.ErrorSamples));
        Assert.Equal(500, result.Held);
        Assert.Equal(500, result.HeldVerified);
        Assert.True(result.Churned > 500, $"only {result.Churned} churned");
        var sockets = await tpt.WaitForSocketCountAsync(baseline, TimeSpan.FromSeconds(15));
        Assert.True(sockets <= baseline, $"tpt holds {sockets} sockets after the soak, baseline {baseline}");
        var rssAfterLoad = ProcessProbe.RssKib(tpt.Pid);

        // With the load gone tpt hands its peak memory back (MemoryTrimmer); its log line is the signal.
        await tpt.WaitForLineAsync(l => l.Contains("returned memory to the OS", StringComparison.Ordinal), timeout: TimeSpan.FromSeconds(30));
        var rssTrimmed = ProcessProbe.RssKib(tpt.Pid);
        output.WriteLine($"sockets {baseline} -> {sockets}; RSS {rssBefore} -> {rssAfterLoad} at the end of the load -> {rssTrimmed} KiB after the trim");
        Assert.True(rssTrimmed < rssAfterLoad, $"the trim gave nothing back: RSS {rssAfterLoad} KiB -> {rssTrimmed} KiB");

        // What may stay above the start: code the JIT tiered up under load, stacks of threads the pool added.
        Assert.True(rssTrimmed <= rssBefore + (16 * 1024), $"RSS {rssBefore} KiB before, {rssTrimmed} KiB after the trim");
    }
}
