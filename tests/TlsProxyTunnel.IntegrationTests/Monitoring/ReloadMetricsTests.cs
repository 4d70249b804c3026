using System.Globalization;
using System.Text.RegularExpressions;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Monitoring;

/// <summary>What the reload-failed alert reads: the result of the last reload, not only counts of all of them.</summary>
public sealed class ReloadMetricsTests
{
    private const string Valid = """
        version: 2
        servers:
          health:
            listen: ["127.0.0.1:0"]
            default: health
        """;

    [Fact]
    public async Task Last_reload_successful_is_0_after_a_rejected_reload_and_1_again_after_a_good_one()
    {
        using var config = new TempConfig(Valid);
        await using var tpt = await TptProcess.StartAsync(config.Path, 1);
        var health = tpt.EndPoint("health");
        Assert.Equal(1, await SampleAsync(health, "tpt_config_last_reload_successful"));

        await File.WriteAllTextAsync(config.Path, Valid.Replace("default: health", "default: nowhere", StringComparison.Ordinal));
        tpt.Signal(TptProcess.SIGHUP);
        await tpt.WaitForLineAsync(l => l.Contains("Reload rejected", StringComparison.Ordinal));
        Assert.Equal(0, await SampleAsync(health, "tpt_config_last_reload_successful"));
        Assert.Equal(1, await SampleAsync(health, "tpt_config_reloads_total{result=\"failure\"}"));

        await File.WriteAllTextAsync(config.Path, Valid.Replace("version: 2", "version: 2\nlog: info", StringComparison.Ordinal));
        tpt.Signal(TptProcess.SIGHUP);
        await tpt.WaitForLineAsync(l => l.Contains("Reloaded: generation 2", StringComparison.Ordinal));
        Assert.Equal(1, await SampleAsync(health, "tpt_config_last_reload_successful"));
        Assert.Equal(1, await SampleAsync(health, "tpt_config_reloads_total{result=\"success\"}"));
    }

    private static async Task<double> SampleAsync(System.Net.IPEndPoint health, string sample)
    {
        var answer = await HttpProbe.GetAsync(health, "/metrics");
        var match = Regex.Match(answer.Body, "^" + Regex.Escape(sample) + @" (\S+)$", RegexOptions.Multiline);
        Assert.True(match.Success, $"{sample} missing from /metrics:\n{answer.Body}");
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }
}
