using System.Diagnostics;
using System.Text.Json;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.TlsData;

namespace TlsProxyTunnel.IntegrationTests.Reliability;

/// <summary>
/// Terminate and originate TLS under a churn of hostile and ordinary clients (resets mid-handshake and mid-echo,
/// floods, close_notify while data flows, bare FINs, garbage records, idle clients cut by idle_timeout), from a
/// Python client with its own TLS stack. This is how the libssl crash of issue 11 was reproduced.
/// </summary>
public sealed class TlsChurnTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task Twenty_seconds_of_hostile_tls_clients_leave_tpt_running_with_every_echo_intact_nothing_unexpected_logged_and_no_socket_kept()
    {
        // Two processes: the back one binds port 0 first, and the front one is written with the port it got.
        using var backConfig = new TempConfig($"""
            version: 2
            log: warn
            servers:
              back:
                listen: ["127.0.0.1:0"]
                terminate_tls: {"{"}cert: {_pki.Cert("server")}, key: {_pki.Key("server")}{"}"}
                default: echo
            """);
        await using var back = await TptProcess.StartAsync(backConfig.Path, 1);
        using var frontConfig = new TempConfig($"""
            version: 2
            log: warn
            servers:
              front:
                listen: ["127.0.0.1:0"]
                terminate_tls: {"{"}cert: {_pki.Cert("server")}, key: {_pki.Key("server")}{"}"}
                idle_timeout: 1500ms
                client_hello_timeout: 2s
                default: back_tls
            upstream:
              back_tls:
                address: "tcp://127.0.0.1:{back.EndPoint("back").Port}"
                tls: {"{"}server_name: localhost, ca: {_pki.Cert("ca")}, ca_only: true{"}"}
            """);
        await using var tpt = await TptProcess.StartAsync(frontConfig.Path, 1);
        var baseline = tpt.OpenSocketCount();
        var backBaseline = back.OpenSocketCount();

        var psi = new ProcessStartInfo("python3")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { Path.Combine(Repository.Root, "tests/TlsProxyTunnel.IntegrationTests/Reliability/tls_churn.py"), tpt.EndPoint("front").Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "20", "12", _pki.Cert("ca") })
        {
            psi.ArgumentList.Add(argument);
        }

        using var client = Process.Start(psi)!;
        var stdout = client.StandardOutput.ReadToEndAsync();
        var stderr = client.StandardError.ReadToEndAsync();
        await client.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        output.WriteLine(await stdout);
        Assert.True(client.ExitCode == 0, await stderr);

        using var report = JsonDocument.Parse(await stdout);
        var problems = report.RootElement.GetProperty("problems").EnumerateArray().Select(p => p.GetString()).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        var counts = report.RootElement.GetProperty("counts");
        foreach (var kind in new[] { "echo", "close_notify_while_echo_flows", "reset_mid_echo", "idle_past_timeout", "garbage_record" })
        {
            Assert.True(counts.TryGetProperty(kind, out var n) && n.GetInt32() > 0, $"scenario {kind} never ran: {counts}");
        }

        foreach (var (process, name, sockets) in new[] { (tpt, "front", baseline), (back, "back", backBaseline) })
        {
            Assert.False(process.HasExited, $"the {name} tpt exited under the churn:\n" + process.AllOutput);
            var unexpected = process.Lines.Where(l => l.Contains("fail:", StringComparison.Ordinal) || l.Contains("crit:", StringComparison.Ordinal)).ToList();
            Assert.True(unexpected.Count == 0, string.Join("\n", unexpected.Take(5)));
            var left = await process.WaitForSocketCountAsync(sockets, TimeSpan.FromSeconds(20));
            Assert.True(left <= sockets, $"the {name} tpt holds {left} sockets after the churn, baseline {sockets}");
        }
    }
}
