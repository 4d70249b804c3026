using System.Diagnostics;

namespace TlsProxyTunnel.IntegrationTests.Packaging;

/// <summary>deploy/systemd/tpt.service: what systemd itself says about it, and the settings the README promises.</summary>
public sealed class SystemdUnitTests
{
    private const string InstalledBinary = "/usr/local/bin/tpt";
    private static readonly string UnitPath = Path.Combine(Repository.Root, "deploy", "systemd", "tpt.service");

    [Fact]
    public async Task Systemd_analyze_verify_accepts_the_unit()
    {
        var analyze = new[] { "/usr/bin/systemd-analyze", "/bin/systemd-analyze" }.FirstOrDefault(File.Exists);
        Assert.True(analyze is not null, "systemd-analyze is missing: install the Debian package 'systemd'");

        // verify fails when ExecStart's binary does not exist, and tpt is not installed here: check a copy whose
        // tpt commands run /bin/true instead. Everything else is the file as shipped.
        var directory = Directory.CreateTempSubdirectory("tpt-unit-");
        try
        {
            var unit = Path.Combine(directory.FullName, "tpt.service");
            var text = await File.ReadAllTextAsync(UnitPath);
            Assert.Contains(InstalledBinary, text, StringComparison.Ordinal);
            await File.WriteAllTextAsync(unit, text.Replace(InstalledBinary, "/bin/true", StringComparison.Ordinal));

            var info = new ProcessStartInfo(analyze, ["verify", unit]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            // No pager, no colour: plain lines to compare.
            info.Environment["SYSTEMD_PAGER"] = "";
            info.Environment["SYSTEMD_COLORS"] = "0";
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            var output = (await stdout) + (await stderr);

            // Unknown keys and bad values are only warnings (exit 0), so the output must not mention the unit either.
            var complaints = output.Split('\n').Where(l => l.Contains("tpt.service", StringComparison.Ordinal)).ToList();
            Assert.True(process.ExitCode == 0 && complaints.Count == 0, $"systemd-analyze verify exited {process.ExitCode}:\n{output}");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("Type", "notify")]
    [InlineData("ExecStart", InstalledBinary + " -c /etc/tpt/config.yaml")]
    [InlineData("ExecReload", "/bin/kill -HUP $MAINPID")]
    [InlineData("DynamicUser", "yes")]
    [InlineData("AmbientCapabilities", "CAP_NET_BIND_SERVICE")]
    [InlineData("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE")]
    [InlineData("NoNewPrivileges", "yes")]
    [InlineData("ProtectSystem", "strict")]
    [InlineData("ProtectHome", "yes")]
    [InlineData("PrivateTmp", "yes")]
    [InlineData("PrivateDevices", "yes")]
    [InlineData("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX")]
    [InlineData("SystemCallFilter", "@system-service")]
    [InlineData("Restart", "on-failure")]
    [InlineData("LimitNOFILE", "65536")]
    public void The_unit_sets(string key, string value)
    {
        Assert.Contains(value, Settings(key));
    }

    [Fact]
    public void MemoryDenyWriteExecute_is_not_enabled_because_the_JIT_maps_code_it_wrote_as_executable()
    {
        Assert.All(Settings("MemoryDenyWriteExecute"), v => Assert.Contains(v, (string[])["no", "false", "0", "off"]));
    }

    [Fact]
    public void The_stop_timeout_outlasts_the_default_drain()
    {
        var stop = Settings("TimeoutStopSec").Single();
        Assert.True(int.Parse(stop.TrimEnd('s'), System.Globalization.CultureInfo.InvariantCulture) > 30, "shutdown_timeout defaults to 30 s");
    }

    private static List<string> Settings(string key) =>
        File.ReadAllLines(UnitPath)
            .Select(l => l.Trim())
            .Where(l => !l.StartsWith('#') && l.StartsWith(key + "=", StringComparison.Ordinal))
            .Select(l => l[(key.Length + 1)..])
            .ToList();
}
