using System.Net;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Transparent;

/// <summary>
/// <c>transparent: true</c> with <c>address: original_dst</c>, for real: in a private network namespace, iptables and
/// ip6tables REDIRECT what a dedicated client address (127.0.0.3, fd00::3) sends to the "destination" (127.0.0.2,
/// fd00::2) to tpt, whose upstream is wherever the client meant to go: a second tpt server there echoes. Matching on
/// the client's source keeps tpt's own connection to the destination (from 127.0.0.1, fd00::2) from looping back.
/// </summary>
public sealed class TransparentModeTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private const string Config = """
        version: 2
        servers:
          lan:
            listen: ["127.0.0.1:0", "[::1]:0"]
            transparent: true
            default: dst
          destination:
            listen: ["127.0.0.2:0", "[fd00::2]:0"]
            default: echo
          # Transparent, but its upstream needs no destination: only the lookup itself can close a client here.
          direct:
            listen: ["127.0.0.1:0"]
            transparent: true
            default: echo
        upstream:
          dst:
            address: original_dst
        """;

    [RootFact]
    public Task An_ipv4_client_redirected_by_iptables_reaches_its_original_destination() =>
        EchoThroughRedirectAsync(AddressFamily.InterNetwork);

    [RootFact]
    public Task An_ipv6_client_redirected_by_ip6tables_reaches_its_original_destination() =>
        EchoThroughRedirectAsync(AddressFamily.InterNetworkV6);

    [RootFact]
    public async Task A_client_that_was_not_redirected_is_closed_at_once_in_the_namespace()
    {
        await using var setup = await Setup.StartAsync();
        using var client = setup.Namespace.CreateSocket(AddressFamily.InterNetwork);
        client.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.3"), 0));

        // Straight to the listener: conntrack knows the connection (the nat table is in use) but nothing rewrote it.
        await client.ConnectAsync(setup.Tpt.EndPoint("direct")).WaitAsync(Bound);
        await client.SendAsync("ping\n"u8.ToArray()).WaitAsync(Bound);
        await AssertClosedWithoutDataAsync(client);
        var line = await setup.Tpt.WaitForLineAsync(l => l.Contains("server=direct", StringComparison.Ordinal) && l.Contains($"client={client.LocalEndPoint}", StringComparison.Ordinal));
        Assert.Contains("outcome=no_original_destination", line, StringComparison.Ordinal);
        Assert.Contains("upstream_addr=-", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_without_a_nat_entry_is_closed_at_once()
    {
        // No namespace, no root: outside any REDIRECT the lookup fails (ENOENT without conntrack, the listener's own
        // address with it) and ptw would leave this client open forever. The echo upstream would answer: only the
        // lookup can close the client.
        using var config = new TempConfig("""
            version: 2
            servers:
              lan:
                listen: ["127.0.0.1:0"]
                transparent: true
                default: echo
              probes:
                listen: ["127.0.0.1:0"]
                default: health
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, 2);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(tpt.EndPoint("lan")).WaitAsync(Bound);
        await client.SendAsync("ping\n"u8.ToArray()).WaitAsync(Bound);
        await AssertClosedWithoutDataAsync(client);
        var line = await tpt.WaitForLineAsync(l => l.Contains("server=lan", StringComparison.Ordinal) && l.Contains("outcome=", StringComparison.Ordinal));
        Assert.Contains("outcome=no_original_destination", line, StringComparison.Ordinal);
        var metrics = await HttpProbe.GetAsync(tpt.EndPoint("probes"), "/metrics").WaitAsync(Bound);
        Assert.Contains("tpt_connection_outcomes_total{name=\"lan\",outcome=\"no_original_destination\"} 1", metrics.Body, StringComparison.Ordinal);
    }

    private static async Task EchoThroughRedirectAsync(AddressFamily family)
    {
        await using var setup = await Setup.StartAsync();
        var v4 = family == AddressFamily.InterNetwork;
        var destination = Listener(setup.Tpt, "destination", family);
        using var client = setup.Namespace.CreateSocket(family);
        client.Bind(new IPEndPoint(IPAddress.Parse(v4 ? "127.0.0.3" : "fd00::3"), 0));
        await client.ConnectAsync(destination).WaitAsync(Bound);

        var payload = Encoding.ASCII.GetBytes($"ping over {family}\n");
        await client.SendAsync(payload).WaitAsync(Bound);
        client.Shutdown(SocketShutdown.Send);
        var echoed = await ReadToEndAsync(client);
        Assert.Equal(payload, echoed);

        // tpt's own line for the client says where it went: the destination the client addressed, port and all.
        var line = await setup.Tpt.WaitForLineAsync(l => l.Contains("server=lan", StringComparison.Ordinal) && l.Contains($"client={client.LocalEndPoint}", StringComparison.Ordinal));
        Assert.Contains($"upstream=dst upstream_addr={destination}", line, StringComparison.Ordinal);
        Assert.Contains("outcome=completed", line, StringComparison.Ordinal);
    }

    /// <summary>The server's listener of that family (the order of "Listening" lines is not what is tested).</summary>
    private static IPEndPoint Listener(TptProcess tpt, string server, AddressFamily family) =>
        new[] { tpt.EndPoint(server, 0), tpt.EndPoint(server, 1) }.Single(e => e.AddressFamily == family);

    private static async Task AssertClosedWithoutDataAsync(Socket client)
    {
        var buffer = new byte[64];
        int read;
        try
        {
            // "At once", generously for a loaded machine; ptw never closes it at all.
            read = await client.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            read = 0;
        }

        Assert.Equal(0, read);
    }

    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        var received = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await socket.ReceiveAsync(buffer).WaitAsync(Bound)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        return received.ToArray();
    }

    /// <summary>The namespace with its addresses, tpt running in it, and the REDIRECT rules pointing at tpt's ports.</summary>
    private sealed class Setup : IAsyncDisposable
    {
        private readonly TempConfig _config;

        private Setup(NetworkNamespace ns, TempConfig config, TptProcess tpt)
        {
            Namespace = ns;
            _config = config;
            Tpt = tpt;
        }

        public NetworkNamespace Namespace { get; }

        public TptProcess Tpt { get; }

        public static async Task<Setup> StartAsync()
        {
            var ns = await NetworkNamespace.CreateAsync();
            var config = new TempConfig(Config);
            TptProcess? tpt = null;
            try
            {
                // nodad: usable at once, without duplicate-address detection on a loopback nobody else shares.
                await ns.RunAsync("ip", "-6", "addr", "add", "fd00::2/128", "dev", "lo", "nodad");
                await ns.RunAsync("ip", "-6", "addr", "add", "fd00::3/128", "dev", "lo", "nodad");
                tpt = await TptProcess.StartAsync(config.Path, 5, launcher: ns.Launcher);
                await ns.RunAsync("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-s", "127.0.0.3", "-d", "127.0.0.2", "-j", "REDIRECT", "--to-ports", Listener(tpt, "lan", AddressFamily.InterNetwork).Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
                await ns.RunAsync("ip6tables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-s", "fd00::3", "-d", "fd00::2", "-j", "REDIRECT", "--to-ports", Listener(tpt, "lan", AddressFamily.InterNetworkV6).Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
                return new Setup(ns, config, tpt);
            }
            catch
            {
                if (tpt is not null)
                {
                    await tpt.DisposeAsync();
                }

                config.Dispose();
                await ns.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Tpt.DisposeAsync();
            _config.Dispose();
            await Namespace.DisposeAsync();
        }
    }
}
