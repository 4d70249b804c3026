using System.Runtime.InteropServices;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.DataPath;

/// <summary>
/// Which engine the real binary says each server runs on (issue #16): TPT_ENGINE given to the child, a server's own
/// <c>engine</c> over it, in the Listening line and <c>tpt_engine_info</c>. Only the selection is tested here, not
/// what an engine does.
/// </summary>
public sealed class EngineSelectionProcessTests
{
    /// <summary>Where the Linux engine can start, as <c>LinuxEngine.IsSupported</c> says.</summary>
    private static bool LinuxSupported =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    [Fact]
    public async Task Tpt_engine_sets_the_default_a_servers_key_overrides_it_and_the_log_and_metrics_say_which_runs()
    {
        // On Linux, auto would be linux: a server without the key reporting sockets shows TPT_ENGINE reached it.
        var explicitLinux = LinuxSupported
            ? """
                pinned_linux:
                  listen: ["127.0.0.1:0"]
                  engine: linux
                  default: echo
              """
            : "";
        using var config = new TempConfig($"""
            version: 2
            servers:
              inherits:
                listen: ["127.0.0.1:0"]
                default: echo
              pinned:
                listen: ["127.0.0.1:0"]
                engine: sockets
                default: echo
            {explicitLinux}
              health:
                listen: ["127.0.0.1:0"]
                default: health
            """);
        var expected = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["inherits"] = "sockets",
            ["pinned"] = "sockets",
            ["health"] = "sockets",
        };
        if (LinuxSupported)
        {
            expected["pinned_linux"] = "linux";
        }

        await using var tpt = await TptProcess.StartAsync(config.Path, expected.Count, new Dictionary<string, string?> { ["TPT_ENGINE"] = "sockets" });

        foreach (var (server, engine) in expected)
        {
            var endPoint = tpt.EndPoint(server);
            Assert.Contains(tpt.Lines, l => l.Contains($"Listening: server {server} on {endPoint} (tls=False, maxclients=", StringComparison.Ordinal) && l.EndsWith($", engine={engine})", StringComparison.Ordinal));
        }

        var metrics = await HttpProbe.GetAsync(tpt.EndPoint("health"), "/metrics");
        Assert.Equal(200, metrics.Status);
        Assert.Contains("# TYPE tpt_engine_info gauge", metrics.Body, StringComparison.Ordinal);
        foreach (var (server, engine) in expected)
        {
            Assert.Contains($"tpt_engine_info{{name=\"{server}\",engine=\"{engine}\"}} 1", metrics.Body, StringComparison.Ordinal);
        }

        Assert.Equal(expected.Count, metrics.Body.Split('\n').Count(l => l.StartsWith("tpt_engine_info{", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_bogus_tpt_engine_exits_1_naming_the_variable_and_its_values_before_binding_anything()
    {
        var port = FreePort.Tcp();
        using var config = new TempConfig($"""
            version: 2
            servers:
              web:
                listen: ["127.0.0.1:{port}"]
                default: echo
            """);

        var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["-c", config.Path], new Dictionary<string, string?> { ["TPT_ENGINE"] = "bogus", ["TPT_LOG"] = "info" });

        Assert.Equal(1, exitCode);
        Assert.Contains("tpt: TPT_ENGINE must be one of auto, linux, sockets, got 'bogus'; nothing was started", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Listening:", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", stderr + stdout, StringComparison.Ordinal);
    }
}
