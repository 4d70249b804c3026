using System.Text.RegularExpressions;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.Reliability;

namespace TlsProxyTunnel.IntegrationTests.Monitoring;

/// <summary>/metrics as Prometheus's own linter sees it, once every family has samples to lint.</summary>
public sealed partial class PromtoolMetricsTests(MonitoredTptFixture tpt) : IClassFixture<MonitoredTptFixture>
{
    [Fact]
    public async Task Promtool_check_metrics_passes_on_metrics_after_traffic_in_every_family()
    {
        var answer = await HttpProbe.GetAsync(tpt.Health, "/metrics");
        Assert.Equal(200, answer.Status);

        // An empty family lints clean whatever is wrong with its samples: each must have one.
        var families = TypeLine().Matches(answer.Body).Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(families);
        var sampleNames = answer.Body.Split('\n')
            .Where(l => l.Length > 0 && l[0] != '#')
            .Select(l => SampleName().Match(l).Value)
            .ToHashSet(StringComparer.Ordinal);
        var empty = families.Where(f => !sampleNames.Contains(f) && !sampleNames.Contains(f + "_bucket")).ToList();
        Assert.True(empty.Count == 0, "families without samples: " + string.Join(", ", empty));
        Assert.Contains("process_max_fds", families);

        var (exit, output) = await Promtool.RunAsync(["check", "metrics"], answer.Body);
        Assert.True(exit == 0 && output.Trim().Length == 0, $"promtool check metrics ({exit}):\n{output}\n--- /metrics:\n{answer.Body}");
    }

    [Fact]
    public async Task Process_max_fds_is_the_soft_descriptor_limit_and_follows_a_change_at_run_time()
    {
        var pid = tpt.Tpt.Process.Pid;
        var limit = ProcessProbe.SoftFileLimit(pid);
        Assert.Equal(limit, await MaxFdsAsync());

        // Lowered a little (still far above what the process uses), the next scrape shows it.
        ProcessProbe.SetSoftFileLimit(pid, limit - 7);
        try
        {
            Assert.Equal(limit - 7, await MaxFdsAsync());
        }
        finally
        {
            ProcessProbe.SetSoftFileLimit(pid, limit);
        }
    }

    private async Task<long> MaxFdsAsync()
    {
        var answer = await HttpProbe.GetAsync(tpt.Health, "/metrics");
        var max = Regex.Match(answer.Body, @"^process_max_fds (\d+)$", RegexOptions.Multiline);
        Assert.True(max.Success, "process_max_fds missing from /metrics");
        return long.Parse(max.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^# TYPE (\S+) \S+$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"^[^{ ]+")]
    private static partial Regex SampleName();
}
