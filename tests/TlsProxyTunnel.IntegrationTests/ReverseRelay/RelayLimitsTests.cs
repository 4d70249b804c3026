using System.Net.Sockets;
using System.Text.RegularExpressions;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.TlsData;

namespace TlsProxyTunnel.IntegrationTests.ReverseRelay;

/// <summary>
/// Where the original buffers without limit and waits forever: a flood of public clients with no server dialling
/// back meets max_pending, max_pending_bytes and pending_timeout, and the relay's memory stays put.
/// </summary>
public sealed partial class RelayLimitsTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task A_flood_of_public_clients_with_no_reverse_connections_hits_the_pending_limits_not_memory()
    {
        using var config = new TempConfig($$"""
            version: 2
            servers:
              relay:
                kind: tls_relay
                listen: ["127.0.0.1:0"]
                terminate_tls: {cert: "{{_pki.Cert("server")}}", key: "{{_pki.Key("server")}}", client_ca: "{{_pki.Cert("clientca")}}", client_cert: require}
                relay:
                  port_count: 2
                  max_pending: 5
                  max_pending_bytes: 1024
                  pending_timeout: 1s
              probes:
                listen: ["127.0.0.1:0"]
                default: health
            upstream: {}
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 2);
        await using var control = await ControlClient.ConnectAsync(tpt.EndPoint("relay"), _pki);
        var (publicPort, reversePort) = await control.ReadListenersAsync();
        var rssBefore = ResidentKiB(tpt.Pid);

        // Each client tries to push 4 MiB: 200 MiB in all, which the original would buffer.
        var payload = new byte[4 * 1024 * 1024];
        var clients = new List<Socket>();
        var sends = new List<Task>();
        for (var i = 0; i < 50; i++)
        {
            var client = await DataPort.ConnectAsync(publicPort);
            clients.Add(client);
            sends.Add(client.SendAsync(payload.AsMemory(), SocketFlags.None).AsTask());
        }

        // Exactly max_pending were queued and announced; the rest were closed at once.
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("new_connection\r\n", await control.ReadLineAsync());
        }

        var metrics = await Eventually.HoldsAsync(
            async () => Sample(await MetricsAsync(tpt), "tpt_relay_public_connections_total", "pending_full") == 45,
            Bound,
            TimeSpan.FromMilliseconds(100));
        Assert.True(metrics, await MetricsAsync(tpt));

        // pending_timeout closes the queued ones; their sends fail rather than hang.
        await Task.WhenAll(sends.Select(s => s.ContinueWith(_ => { }, TaskScheduler.Default))).WaitAsync(Bound);
        var text = await MetricsAsync(tpt);
        Assert.Equal(5, Sample(text, "tpt_relay_pending_timeouts_total", null));
        Assert.Equal(5, Sample(text, "tpt_relay_public_connections_total", "queued"));

        var grownKiB = ResidentKiB(tpt.Pid) - rssBefore;
        Assert.True(grownKiB < 48 * 1024, $"the relay's resident memory grew by {grownKiB} KiB");

        // An expired entry still takes its reverse connection (its new_connection was sent): at most the cap, then EOF.
        using var reverse = await DataPort.ConnectAsync(reversePort);
        Assert.Equal(1024, (await DataPort.ReadToEndAsync(reverse)).Length);

        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task The_status_page_lists_a_relays_control_route()
    {
        using var config = new TempConfig("""
            version: 2
            servers:
              relay:
                kind: tls_relay
                listen: ["127.0.0.1:0"]
                relay: {port_count: 2}
              probes:
                listen: ["127.0.0.1:0"]
                default: health
            upstream: {}
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 2);

        var status = await HttpProbe.GetAsync(tpt.EndPoint("probes"), "/status?format=json");
        Assert.Equal(200, status.Status);
        Assert.Contains("\"relay\"", status.Body, StringComparison.Ordinal);
        Assert.Equal(200, (await HttpProbe.GetAsync(tpt.EndPoint("probes"), "/status")).Status);
    }

    private static async Task<string> MetricsAsync(TptProcess tpt) => (await HttpProbe.GetAsync(tpt.EndPoint("probes"), "/metrics")).Body;

    private static long Sample(string metrics, string family, string? result)
    {
        var pattern = result is null ? $@"^{family}\{{name=""relay""\}} (\d+)" : $@"^{family}\{{name=""relay"",result=""{result}""\}} (\d+)";
        var match = Regex.Match(metrics, pattern, RegexOptions.Multiline);
        return match.Success ? long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : -1;
    }

    private static long ResidentKiB(int pid)
    {
        var line = File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(Regex.Match(line, @"\d+").Value, System.Globalization.CultureInfo.InvariantCulture);
    }
}
