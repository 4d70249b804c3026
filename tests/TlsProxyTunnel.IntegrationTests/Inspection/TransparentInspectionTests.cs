using System.Net;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Inspection;

/// <summary>
/// seed-tools §4.6 PROX-4, prox.py's <c>-O</c> done in tpt: in a private network namespace, iptables (ip6tables)
/// REDIRECT what 127.0.0.3 (fd00::3) sends to 127.0.0.2 (fd00::2) to a capturing transparent server, whose upstream
/// is the original destination, where a second tpt server echoes. The capture names the client; tpt logs where it went.
/// </summary>
public sealed class TransparentInspectionTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [RootFact]
    public Task An_ipv4_client_redirected_by_iptables_is_captured_on_its_way_to_its_original_destination() =>
        CaptureThroughRedirectAsync(AddressFamily.InterNetwork);

    [RootFact]
    public Task An_ipv6_client_redirected_by_ip6tables_is_captured_on_its_way_to_its_original_destination() =>
        CaptureThroughRedirectAsync(AddressFamily.InterNetworkV6);

    private static async Task CaptureThroughRedirectAsync(AddressFamily family)
    {
        var v4 = family == AddressFamily.InterNetwork;
        await using var ns = await NetworkNamespace.CreateAsync();
        var dir = Directory.CreateTempSubdirectory("tpt-prox4-").FullName;
        var capture = Path.Combine(dir, "capture.log");
        using var config = new TempConfig($$"""
            version: 2
            servers:
              lan:
                listen: ["127.0.0.1:0", "[::1]:0"]
                transparent: true
                capture: {path: "{{capture}}"}
                default: dst
              destination:
                listen: ["127.0.0.2:0", "[fd00::2]:0"]
                default: echo
            upstream:
              dst:
                address: original_dst
            """);
        try
        {
            await ns.RunAsync("ip", "-6", "addr", "add", "fd00::2/128", "dev", "lo", "nodad");
            await ns.RunAsync("ip", "-6", "addr", "add", "fd00::3/128", "dev", "lo", "nodad");
            await using var tpt = await TptProcess.StartAsync(config.Path, 4, launcher: ns.Launcher);
            var lan = Listener(tpt, "lan", family).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await (v4
                ? ns.RunAsync("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-s", "127.0.0.3", "-d", "127.0.0.2", "-j", "REDIRECT", "--to-ports", lan)
                : ns.RunAsync("ip6tables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-s", "fd00::3", "-d", "fd00::2", "-j", "REDIRECT", "--to-ports", lan));

            var destination = Listener(tpt, "destination", family);
            using var client = ns.CreateSocket(family);
            client.Bind(new IPEndPoint(IPAddress.Parse(v4 ? "127.0.0.3" : "fd00::3"), 0));
            await client.ConnectAsync(destination).WaitAsync(Bound);
            var payload = Encoding.ASCII.GetBytes($"GET / HTTP/1.0 over {family}\r\n\r\n");
            await client.SendAsync(payload).WaitAsync(Bound);
            client.Shutdown(SocketShutdown.Send);
            var echoed = new MemoryStream();
            var buffer = new byte[4096];
            int read;
            while ((read = await client.ReceiveAsync(buffer).WaitAsync(Bound)) > 0)
            {
                echoed.Write(buffer, 0, read);
            }

            Assert.Equal(payload, echoed.ToArray());
            var line = await tpt.WaitForLineAsync(l => l.Contains("server=lan", StringComparison.Ordinal) && l.Contains($"client={client.LocalEndPoint}", StringComparison.Ordinal));
            Assert.Contains($"upstream=dst upstream_addr={destination}", line, StringComparison.Ordinal);

            var (clients, fromClient, toClient) = await CaptureReader.ReadWhenCompleteAsync(capture, payload.Length, payload.Length).WaitAsync(Bound);
            Assert.Equal([client.LocalEndPoint!.ToString()!], clients);
            Assert.Equal(payload, fromClient);
            Assert.Equal(payload, toClient);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static IPEndPoint Listener(TptProcess tpt, string server, AddressFamily family) =>
        new[] { tpt.EndPoint(server, 0), tpt.EndPoint(server, 1) }.Single(e => e.AddressFamily == family);
}
