using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.DataPath;

/// <summary>A listen address that cannot be bound at start-up: one plain line, exit 1, nothing left listening.</summary>
public sealed class BindFailureTests
{
    [Fact]
    public async Task An_address_in_use_prints_one_line_without_a_stack_trace_and_exits_1()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        var port = ((IPEndPoint)taken.LocalEndPoint!).Port;
        var free = FreePort.Tcp();
        using var config = new TempConfig($"""
            version: 2
            servers:
              first:
                listen: ["127.0.0.1:{free}"]
                default: echo
              clash:
                listen: ["127.0.0.1:{port}"]
                default: echo
            """);
        var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["-c", config.Path], new Dictionary<string, string?> { ["TPT_LOG"] = "info" });
        Assert.Equal(1, exitCode);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var failure = Assert.Single(lines, l => l.Contains("cannot listen", StringComparison.OrdinalIgnoreCase));
        Assert.Contains($"cannot listen on 127.0.0.1:{port}: address in use", failure, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", stderr + stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr + stdout, StringComparison.Ordinal);

        // Nothing was announced as listening, and the other address is free again.
        Assert.DoesNotContain("Listening:", stderr, StringComparison.Ordinal);
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, free));
    }
}
