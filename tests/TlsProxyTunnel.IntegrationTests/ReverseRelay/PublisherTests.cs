using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.TlsData;

namespace TlsProxyTunnel.IntegrationTests.ReverseRelay;

/// <summary>
/// tpt on both ends: a <c>relay_publisher</c> process exposing an upstream through a <c>tls_relay</c> process, over the
/// mutual-TLS control channel (RELAY-6, RELAY-7, many pairs at once, routing and the access log on the publisher).
/// </summary>
public sealed partial class PublisherTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly TestPki _pki = new();
    private readonly List<TempConfig> _configs = [];

    public void Dispose()
    {
        foreach (var config in _configs)
        {
            config.Dispose();
        }

        _pki.Dispose();
    }

    [Fact]
    public async Task RELAY_6_tls_stays_end_to_end_the_backend_certificate_is_the_one_checked_and_the_relay_only_carries_records()
    {
        using var backend = await OpenSslPeer.ServerAsync("-cert", _pki.Cert("exact"), "-key", _pki.Key("exact"));
        using var tap = new TapProxy(new IPEndPoint(IPAddress.Loopback, backend.Port));
        await using var relay = await StartRelayAsync("127.0.0.1:0");
        await using var publisher = await StartPublisherAsync(
            relay.EndPoint("relay"),
            ["tls: true", "sni:", "  exact.test: app", "default: ban"],
            $"app: \"tcp://127.0.0.1:{tap.Port}\"");
        var publicAddress = await PublishedAsync(publisher);

        var (exitCode, output) = await Task.Run(() => OpenSsl.Run(
            ["s_client", "-connect", publicAddress.ToString(), "-servername", "exact.test", "-CAfile", _pki.Cert("ca"), "-verify_return_error", "-verify_hostname", "exact.test"],
            stdin: "SECRET-PAYLOAD\n")).WaitAsync(Bound);
        Assert.True(exitCode == 0, output);
        Assert.Contains("subject=CN=exact.test", output.Replace(" = ", "=", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains("Verify return code: 0 (ok)", output, StringComparison.Ordinal);
        await backend.WaitForLineAsync(l => l.Contains("SECRET-PAYLOAD", StringComparison.Ordinal), Bound);

        // What crossed the relay and the publisher: TLS records only, the payload never in clear.
        var seen = tap.Seen;
        Assert.Equal(0x16, seen[0]);
        Assert.DoesNotContain("SECRET-PAYLOAD", Encoding.Latin1.GetString(seen), StringComparison.Ordinal);

        // The publisher routed it like an accepted connection: SNI route, access log, listed under the relay.
        var access = await publisher.WaitForLineAsync(l => l.Contains(" server=app ", StringComparison.Ordinal) && l.Contains("outcome=", StringComparison.Ordinal));
        Assert.Contains($"listen=relay {relay.EndPoint("relay")} sni=exact.test hello=sni route=exact.test upstream=app", access, StringComparison.Ordinal);
        Assert.Contains("outcome=completed", access, StringComparison.Ordinal);

        // Its client is the relay's reverse port it dialled, whichever engine dialled it.
        Assert.True(Regex.IsMatch(access, @"client=127\.0\.0\.1:\d+ server=app "), access);
    }

    [Fact]
    public async Task RELAY_7_after_a_relay_restart_the_publisher_reconnects_within_backoff_and_logs_its_new_public_address()
    {
        var relay = await StartRelayAsync("127.0.0.1:0");
        var control = relay.EndPoint("relay");
        await using var publisher = await StartPublisherAsync(control, ["default: echo"], "", backoff: "300ms");
        var before = await PublishedAsync(publisher);
        await EchoAsync(before, "first");

        relay.Signal(TptProcess.SIGTERM);
        await relay.WaitForExitAsync(Bound);
        await relay.DisposeAsync();
        await publisher.WaitForLineAsync(l => l.Contains("reconnecting in 300 ms", StringComparison.Ordinal));

        await using var restarted = await StartRelayAsync(control.ToString());
        var started = Stopwatch.StartNew();
        var after = await PublishedAsync(publisher, skipSeen: 1);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"reconnected after {started.Elapsed}");
        await EchoAsync(after, "second");
    }

    [Fact]
    public async Task A_reload_moves_the_publisher_to_another_relay_at_its_next_reconnect_and_says_what_needs_a_restart()
    {
        var first = await StartRelayAsync("127.0.0.1:0");
        await using var second = await StartRelayAsync("127.0.0.1:0");
        await using var publisher = await StartPublisherAsync(first.EndPoint("relay"), ["default: echo"], "", backoff: "200ms");
        await PublishedAsync(publisher);

        // The same file, now naming the second relay and adding a relay server, which a reload cannot bind.
        var path = _configs[^1].Path;
        var text = File.ReadAllText(path).Replace(first.EndPoint("relay").ToString(), second.EndPoint("relay").ToString(), StringComparison.Ordinal);
        File.WriteAllText(path, text.Replace("servers:\n", "servers:\n  late_relay:\n    kind: tls_relay\n    listen: [\"127.0.0.1:0\"]\n    relay: {port_count: 2}\n", StringComparison.Ordinal));
        publisher.Signal(TptProcess.SIGHUP);
        await publisher.WaitForLineAsync(l => l.Contains("Reloaded: generation 2", StringComparison.Ordinal));
        await publisher.WaitForLineAsync(l => l.Contains("Reload: the relay (kind tls_relay) of server late_relay take effect at the next restart", StringComparison.Ordinal));

        first.Signal(TptProcess.SIGTERM);
        await first.WaitForExitAsync(Bound);
        await first.DisposeAsync();
        var moved = await publisher.WaitForLineAsync(l => l.Contains("published through relay", StringComparison.Ordinal), skipSeen: 1);
        Assert.Contains($"published through relay {second.EndPoint("relay")} at", moved, StringComparison.Ordinal);
        await EchoAsync(IPEndPoint.Parse(PublishedLine().Match(moved).Groups[1].Value), "moved");
    }

    [Fact]
    public async Task The_publishers_maxclients_applies_to_reverse_connections()
    {
        await using var relay = await StartRelayAsync("127.0.0.1:0");
        await using var publisher = await StartPublisherAsync(relay.EndPoint("relay"), ["default: echo", "maxclients: 1"], "");
        var publicAddress = await PublishedAsync(publisher);

        using var first = await DataPort.ConnectAsync(publicAddress.Port);
        await DataPort.SendAsync(first, "one");
        Assert.Equal("one", await DataPort.ReadAsync(first, 3));

        // Dialled (the relay's accounting needs it), then refused: the public client is closed without an echo.
        using var second = await DataPort.ConnectAsync(publicAddress.Port);
        await DataPort.SendAsync(second, "two");
        Assert.Equal("", await DataPort.ReadToEndAsync(second));
        await publisher.WaitForLineAsync(l => l.Contains("maxclients (1) reached on server app", StringComparison.Ordinal));

        // The first is still served.
        await DataPort.SendAsync(first, "again");
        Assert.Equal("again", await DataPort.ReadAsync(first, 5));

        // The refusal left nothing stuck (a refused socket the engine still held once froze the thread that closed
        // it, and with it every connection on that thread's loop): one after another, new clients are all served.
        // Each waits for the one before to be logged, which gives its place back (maxclients is 1).
        first.Dispose();
        static bool Completed(string l) => l.Contains(" server=app ", StringComparison.Ordinal) && l.Contains("outcome=completed", StringComparison.Ordinal);
        await publisher.WaitForLineAsync(Completed);
        for (var i = 0; i < 6; i++)
        {
            await EchoAsync(publicAddress, $"later {i}");
            await publisher.WaitForLineAsync(Completed, skipSeen: i + 1);
        }
    }

    [Fact]
    public async Task A_hundred_public_clients_at_once_each_get_their_own_reverse_connection_and_their_own_bytes_back()
    {
        await using var relay = await StartRelayAsync("127.0.0.1:0", portCount: 2);
        await using var publisher = await StartPublisherAsync(relay.EndPoint("relay"), ["default: echo", "maxclients: 500"], "");
        var publicAddress = await PublishedAsync(publisher);

        var sessions = Enumerable.Range(0, 100).Select(async i =>
        {
            var payload = new byte[32 * 1024];
            new Random(i).NextBytes(payload);
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync(publicAddress);
            var receiving = ReceiveExactlyAsync(client, payload.Length);
            await client.SendAsync(payload.AsMemory(), SocketFlags.None);
            Assert.Equal(payload, await receiving);
        });
        await Task.WhenAll(sessions).WaitAsync(TimeSpan.FromSeconds(60));

        // Counted as the publisher's connections, and the public address on /metrics as an info gauge.
        var metrics = (await HttpProbe.GetAsync(publisher.EndPoint("probes"), "/metrics")).Body;
        Assert.Contains($"tpt_relay_publisher_info{{name=\"app\",relay=\"{relay.EndPoint("relay")}\",public_address=\"{publicAddress}\"}} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("tpt_relay_publisher_reverse_dials_total{name=\"app\",result=\"ok\"} 100", metrics, StringComparison.Ordinal);
        Assert.Contains("tpt_connections_accepted_total{name=\"app\"} 100", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_PROXY_header_sent_on_names_the_relays_reverse_port_as_source_and_the_publishers_own_end_as_destination()
    {
        using var backend = new TcpListener(IPAddress.Loopback, 0);
        backend.Start();
        await using var relay = await StartRelayAsync("127.0.0.1:0");
        await using var publisher = await StartPublisherAsync(
            relay.EndPoint("relay"),
            ["default: app"],
            $"app: {{address: \"tcp://127.0.0.1:{((IPEndPoint)backend.LocalEndpoint).Port}\", proxy_protocol: v1}}");
        var publicAddress = await PublishedAsync(publisher);

        using var client = await DataPort.ConnectAsync(publicAddress.Port);
        await DataPort.SendAsync(client, "after the header");
        using var upstream = await backend.AcceptSocketAsync().WaitAsync(Bound);
        var received = "";
        var buffer = new byte[256];
        while (!received.EndsWith("after the header", StringComparison.Ordinal))
        {
            var read = await upstream.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Bound);
            Assert.NotEqual(0, read);
            received += Encoding.ASCII.GetString(buffer, 0, read);
        }

        var header = HeaderLine().Match(received);
        Assert.True(header.Success, received);
        var ports = new[] { int.Parse(header.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(header.Groups[2].Value, CultureInfo.InvariantCulture) };

        // A reverse connection goes from the publisher to one of the relay's reverse ports (control port + 1, + 2).
        var control = relay.EndPoint("relay").Port;
        Assert.InRange(ports[0], control + 1, control + 2);
        Assert.NotEqual(0, ports[1]);
        client.Shutdown(SocketShutdown.Both);
        upstream.Shutdown(SocketShutdown.Both);
        var access = await publisher.WaitForLineAsync(l => l.Contains(" server=app ", StringComparison.Ordinal) && l.Contains("outcome=", StringComparison.Ordinal));
        Assert.Contains($"client=127.0.0.1:{ports[0]} server=app ", access, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Relay_and_publisher_work_over_ipv6_which_the_original_cannot()
    {
        await using var relay = await StartRelayAsync("[::1]:0", advertise: "\"[::1]\"");
        await using var publisher = await StartPublisherAsync(relay.EndPoint("relay"), ["default: echo"], "");
        var publicAddress = await PublishedAsync(publisher);
        Assert.Equal(IPAddress.IPv6Loopback, publicAddress.Address);
        await EchoAsync(publicAddress, "over six");
    }

    private static async Task EchoAsync(IPEndPoint publicAddress, string text)
    {
        using var client = new Socket(publicAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(publicAddress).WaitAsync(Bound);
        await DataPort.SendAsync(client, text);
        Assert.Equal(text, await DataPort.ReadAsync(client, text.Length));
    }

    private static async Task<byte[]> ReceiveExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        return buffer[..filled];
    }

    private static async Task<IPEndPoint> PublishedAsync(TptProcess publisher, int skipSeen = 0)
    {
        var line = await publisher.WaitForLineAsync(l => l.Contains("published through relay", StringComparison.Ordinal), skipSeen: skipSeen);
        return IPEndPoint.Parse(PublishedLine().Match(line).Groups[1].Value);
    }

    private async Task<TptProcess> StartRelayAsync(string listen, int portCount = 4, string advertise = "127.0.0.1")
    {
        var config = new TempConfig($$"""
            version: 2
            servers:
              relay:
                kind: tls_relay
                listen: ["{{listen}}"]
                terminate_tls: {cert: "{{_pki.Cert("server")}}", key: "{{_pki.Key("server")}}", client_ca: "{{_pki.Cert("clientca")}}", client_cert: require}
                relay:
                  advertise_host: {{advertise}}
                  port_count: {{portCount}}
            upstream: {}
            """);
        _configs.Add(config);
        return await TptProcess.StartAsync(config.Path, expectedListeners: 1);
    }

    private async Task<TptProcess> StartPublisherAsync(IPEndPoint relay, string[] serverLines, string upstreamLines, string backoff = "1s")
    {
        var config = new TempConfig($$"""
            version: 2
            servers:
              app:
                kind: relay_publisher
                relay: "{{relay}}"
                relay_tls: {ca: "{{_pki.Cert("ca")}}", cert: "{{_pki.Cert("client")}}", key: "{{_pki.Key("client")}}", verify: chain}
                backoff: {{backoff}}
                {{string.Join("\n    ", serverLines)}}
              probes:
                listen: ["127.0.0.1:0"]
                default: health
            upstream:
              {{upstreamLines}}
            """);
        _configs.Add(config);
        return await TptProcess.StartAsync(config.Path, expectedListeners: 1);
    }

    [GeneratedRegex(@"^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 (\d+) (\d+)\r\nafter the header$")]
    private static partial Regex HeaderLine();

    [GeneratedRegex(@"published through relay \S+ at (\S+) ")]
    private static partial Regex PublishedLine();
}
