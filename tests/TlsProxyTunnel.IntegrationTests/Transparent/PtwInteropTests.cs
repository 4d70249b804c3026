using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.TlsData;

namespace TlsProxyTunnel.IntegrationTests.Transparent;

/// <summary>
/// ptw's whole job, for real, in a private network namespace: a client opens 127.0.0.2:80 (or [fd00::2]:80), iptables
/// REDIRECTs it to the wrapper, which sends a PROXY header naming the client and that original destination inside
/// TLS. seed-tools.md §1.6 PTW-4 (tpt as the wrapper, bytes checked at a TLS sink) and PTW-8 (the original ptw as the
/// wrapper, tpt as its server side). Port 80 and ptw's port are fixed, which is safe: the namespace has its own.
/// </summary>
public sealed class PtwInteropTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly byte[] V2Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [RootTheory]
    [InlineData("v1", false)]
    [InlineData("v2", false)]
    [InlineData("v1", true)]
    [InlineData("v2", true)]
    public async Task Tpt_as_the_wrapper_sends_the_client_and_its_original_destination_inside_tls_exactly(string version, bool ipv6)
    {
        await using var ns = await NetworkNamespace.CreateAsync();
        await AddAddressesAsync(ns);
        using var sinkListener = ns.CreateSocket(AddressFamily.InterNetwork);
        sinkListener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        sinkListener.Listen(8);
        using var config = new TempConfig($$"""
            version: 2
            servers:
              lan:
                listen: ["127.0.0.1:0", "[::1]:0"]
                transparent: true
                default: hub
            upstream:
              hub:
                address: "tcp://localhost:{{((IPEndPoint)sinkListener.LocalEndPoint!).Port}}"
                tls: {ca: {{_pki.Cert("ca")}}, ca_only: true}
                proxy_protocol: {{version}}
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, 2, launcher: ns.Launcher);
        await RedirectAsync(ns, ipv6, Listener(tpt, "lan", ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork).Port);

        var sink = Task.Run(async () =>
        {
            using var accepted = await sinkListener.AcceptAsync();
            await using var tls = new SslStream(new NetworkStream(accepted, ownsSocket: false));
            using var certificate = _pki.Load("server");
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate });
            var received = new MemoryStream();
            var buffer = new byte[512];
            int read;
            while (!received.ToArray().AsSpan().EndsWith("ping\n"u8) && (read = await tls.ReadAsync(buffer)) > 0)
            {
                received.Write(buffer, 0, read);
            }

            return received.ToArray();
        });

        using var client = ns.CreateSocket(ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork);
        client.Bind(new IPEndPoint(IPAddress.Parse(ipv6 ? "fd00::3" : "127.0.0.3"), 0));
        await client.ConnectAsync(new IPEndPoint(IPAddress.Parse(ipv6 ? "fd00::2" : "127.0.0.2"), 80)).WaitAsync(Bound);
        await client.SendAsync("ping\n"u8.ToArray()).WaitAsync(Bound);
        var clientEndPoint = (IPEndPoint)client.LocalEndPoint!;

        var bytes = await sink.WaitAsync(Bound);
        var expected = version == "v1"
            ? Encoding.ASCII.GetBytes($"PROXY {(ipv6 ? "TCP6 fd00::3 fd00::2" : "TCP4 127.0.0.3 127.0.0.2")} {clientEndPoint.Port} 80\r\n")
            : V2Header(clientEndPoint, new IPEndPoint(IPAddress.Parse(ipv6 ? "fd00::2" : "127.0.0.2"), 80));
        Assert.Equal(Convert.ToHexString([.. expected, .. "ping\n"u8.ToArray()]), Convert.ToHexString(bytes));
    }

    [RootFact]
    public async Task The_original_ptw_with_proxy_v2_and_client_certificates_reaches_the_original_destination_through_tpt()
    {
        await using var ns = await NetworkNamespace.CreateAsync();
        await AddAddressesAsync(ns);
        using var config = new TempConfig($$"""
            version: 2
            servers:
              hub:
                listen: ["127.0.0.1:0"]
                terminate_tls: {cert: {{_pki.Cert("server")}}, key: {{_pki.Key("server")}}, client_ca: {{_pki.Cert("clientca")}}, client_cert: require}
                proxy_protocol: require
                # ptw's pooled connections stay silent until a client comes.
                client_hello_timeout: 60s
                default: dst
              destination:
                listen: ["127.0.0.2:80"]
                default: echo
            upstream:
              dst: original_dst
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, 2, launcher: ns.Launcher);
        await using var ptw = await StartOriginalPtwAsync(ns, "-a", "127.0.0.1", "-p", "57800", "-P", "v2", "-n", "2",
            "-c", _pki.Cert("client"), "-k", _pki.Key("client"), "-C", _pki.Cert("ca"), "localhost", tpt.EndPoint("hub").Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await RedirectAsync(ns, ipv6: false, 57800);

        using var client = ns.CreateSocket(AddressFamily.InterNetwork);
        client.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.3"), 0));
        await client.ConnectAsync(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 80)).WaitAsync(Bound);
        await client.SendAsync("through ptw\n"u8.ToArray()).WaitAsync(Bound);
        var echoed = new byte[12];
        var got = 0;
        while (got < echoed.Length)
        {
            var read = await client.ReceiveAsync(echoed.AsMemory(got)).AsTask().WaitAsync(Bound);
            Assert.True(read > 0, $"closed after {got} bytes; ptw said:\n{ptw.Output}");
            got += read;
        }

        Assert.Equal("through ptw\n", Encoding.ASCII.GetString(echoed));
        var clientEndPoint = client.LocalEndPoint;

        // ptw passes no close on to its upstream (seed-tools.md PTW-6: it would hang), so tpt's connection, and with
        // it the access line, ends when ptw goes.
        client.Close();
        await ptw.DisposeAsync();

        // tpt's access line for the hub: the client and destination are those of the PROXY header, not ptw's socket.
        var line = await tpt.WaitForLineAsync(l => l.Contains("server=hub", StringComparison.Ordinal) && l.Contains($"client={clientEndPoint} ", StringComparison.Ordinal), timeout: Bound);
        Assert.Contains("upstream=dst upstream_addr=127.0.0.2:80", line, StringComparison.Ordinal);
        Assert.Contains("client_cert=", line, StringComparison.Ordinal);
        Assert.DoesNotContain("client_cert=-", line, StringComparison.Ordinal);
    }

    private static byte[] V2Header(IPEndPoint source, IPEndPoint destination)
    {
        var v6 = source.AddressFamily == AddressFamily.InterNetworkV6;
        var addressLength = v6 ? 36 : 12;
        var header = new byte[16 + addressLength];
        V2Signature.CopyTo(header, 0);
        header[12] = 0x21; // version 2, PROXY
        header[13] = (byte)(v6 ? 0x21 : 0x11); // TCP over IPv6 / IPv4
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), (ushort)addressLength);
        var size = v6 ? 16 : 4;
        source.Address.GetAddressBytes().CopyTo(header, 16);
        destination.Address.GetAddressBytes().CopyTo(header, 16 + size);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(16 + (2 * size)), (ushort)source.Port);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(18 + (2 * size)), (ushort)destination.Port);
        return header;
    }

    private static async Task AddAddressesAsync(NetworkNamespace ns)
    {
        // nodad: usable at once, without duplicate-address detection on a loopback nobody else shares.
        await ns.RunAsync("ip", "-6", "addr", "add", "fd00::2/128", "dev", "lo", "nodad");
        await ns.RunAsync("ip", "-6", "addr", "add", "fd00::3/128", "dev", "lo", "nodad");
    }

    /// <summary>What the dedicated client address sends to port 80 goes to the wrapper; the wrapper's own traffic does not.</summary>
    private static Task<string> RedirectAsync(NetworkNamespace ns, bool ipv6, int port) =>
        ns.RunAsync(ipv6 ? "ip6tables" : "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-s", ipv6 ? "fd00::3" : "127.0.0.3", "--dport", "80",
            "-j", "REDIRECT", "--to-ports", port.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static IPEndPoint Listener(TptProcess tpt, string server, AddressFamily family) =>
        new[] { tpt.EndPoint(server, 0), tpt.EndPoint(server, 1) }.Single(e => e.AddressFamily == family);

    private static async Task<RunningPtw> StartOriginalPtwAsync(NetworkNamespace ns, params string[] args)
    {
        var info = new ProcessStartInfo(ns.Launcher[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var word in ns.Launcher.Skip(1))
        {
            info.ArgumentList.Add(word);
        }

        info.ArgumentList.Add("python3");
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add($"import sys; sys.path.insert(0, '{OriginalPtw.Directory}'); sys.argv[0] = 'ptw'; from ptw.__main__ import main; main()");
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var ptw = new RunningPtw(Process.Start(info)!);
        await ptw.Journal.WaitForAsync(l => l.Contains("Server ready.", StringComparison.Ordinal), Bound, "the original ptw did not get ready");
        return ptw;
    }

    private sealed class RunningPtw : IAsyncDisposable
    {
        private readonly Process _process;

        public RunningPtw(Process process)
        {
            _process = process;
            Journal = new LineJournal();
            _ = Pump(process.StandardError);
            _ = Pump(process.StandardOutput);
        }

        public LineJournal Journal { get; }

        public string Output => Journal.Text;

        private bool _disposed;

        public async ValueTask DisposeAsync()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(Bound);
            }

            _process.Dispose();
        }

        private async Task Pump(StreamReader reader)
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                Journal.Add(line);
            }
        }
    }
}
