using System.Net.Sockets;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.TlsData;

namespace TlsProxyTunnel.IntegrationTests.ReverseRelay;

/// <summary>
/// tx_tlsrelay's protocol as its peers see it (seed-tools.md §3.6, RELAY-1 to RELAY-5): the real tpt binary as the
/// relay, scripted servers on the mutual-TLS control channel (openssl s_client and an SslStream that reads raw
/// bytes) and plain sockets on the data ports. The original needs Python 2 and Twisted, so the lines it would write
/// are compared byte for byte against §3.1.
/// </summary>
public sealed class RelayConformanceTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    // Closing one end must close the other "within 1 s"; a loaded CI machine gets some slack on top.
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(3);

    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task RELAY_1_control_handshake_hands_out_pairs_in_the_original_layout_then_says_no_available_listeners()
    {
        await using var tpt = await StartRelayAsync();
        var p = tpt.EndPoint("relay").Port;

        using var first = OpenSslControlClient.Start(tpt.EndPoint("relay"), _pki);
        var expectedFirst = $"public_listener 127.0.0.1:{p + 3}\r\nreverse_listener 127.0.0.1:{p + 1}\r\n";
        Assert.Equal(expectedFirst, await first.WaitForBytesAsync(expectedFirst.Length, Bound));

        await using var second = await ControlClient.ConnectAsync(tpt.EndPoint("relay"), _pki);
        Assert.Equal($"public_listener 127.0.0.1:{p + 4}\r\n", await second.ReadLineAsync());
        Assert.Equal($"reverse_listener 127.0.0.1:{p + 2}\r\n", await second.ReadLineAsync());

        using var third = OpenSslControlClient.Start(tpt.EndPoint("relay"), _pki);
        await third.WaitForExitAsync(Bound);
        Assert.Equal("no_available_listeners\r\n", third.Received);

        // Nothing more came on the first session while the others were served.
        Assert.Equal(expectedFirst, first.Received);
    }

    [Fact]
    public async Task RELAY_1_a_control_client_without_a_certificate_fails_the_handshake_and_takes_no_pair()
    {
        await using var tpt = await StartRelayAsync();
        var p = tpt.EndPoint("relay").Port;

        using var anonymous = OpenSslControlClient.Start(tpt.EndPoint("relay"), _pki, withCertificate: false);
        var code = await anonymous.WaitForExitAsync(Bound);
        Assert.NotEqual(0, code);
        Assert.DoesNotContain("listener", anonymous.Received, StringComparison.Ordinal);
        Assert.Contains("outcome=tls_client_failed", await tpt.WaitForLineAsync(l => l.Contains(" server=relay ", StringComparison.Ordinal) && l.Contains("outcome=", StringComparison.Ordinal)), StringComparison.Ordinal);

        await using var next = await ControlClient.ConnectAsync(tpt.EndPoint("relay"), _pki);
        Assert.Equal((p + 3, p + 1), await next.ReadListenersAsync());
    }

    [Fact]
    public async Task RELAY_2_early_data_reaches_the_reverse_connection_and_either_end_closing_closes_the_other()
    {
        await using var tpt = await StartRelayAsync();
        await using var control = await ControlClient.ConnectAsync(tpt.EndPoint("relay"), _pki);
        var (publicPort, reversePort) = await control.ReadListenersAsync();

        using var client = await DataPort.ConnectAsync(publicPort);
        await DataPort.SendAsync(client, "hello");
        Assert.Equal("new_connection\r\n", await control.ReadLineAsync());

        using var reverse = await DataPort.ConnectAsync(reversePort);
        Assert.Equal("hello", await DataPort.ReadAsync(reverse, 5));
        await DataPort.SendAsync(reverse, "world");
        Assert.Equal("world", await DataPort.ReadAsync(client, 5));

        client.Close();
        Assert.Equal("", await DataPort.ReadToEndAsync(reverse, Prompt));

        // And the other way round, on a second pairing.
        using var client2 = await DataPort.ConnectAsync(publicPort);
        Assert.Equal("new_connection\r\n", await control.ReadLineAsync());
        using var reverse2 = await DataPort.ConnectAsync(reversePort);
        await DataPort.SendAsync(reverse2, "bye");
        Assert.Equal("bye", await DataPort.ReadAsync(client2, 3));
        reverse2.Close();
        Assert.Equal("", await DataPort.ReadToEndAsync(client2, Prompt));
    }

    [Fact]
    public async Task RELAY_3_public_clients_are_paired_first_in_first_out_and_a_surplus_reverse_connection_is_closed()
    {
        await using var tpt = await StartRelayAsync();
        await using var control = await ControlClient.ConnectAsync(tpt.EndPoint("relay"), _pki);
        var (publicPort, reversePort) = await control.ReadListenersAsync();

        var clients = new List<Socket>();
        foreach (var name in (string[])["A", "B", "C"])
        {
            var client = await DataPort.ConnectAsync(publicPort);
            await DataPort.SendAsync(client, name);
            clients.Add(client);

            // Its new_connection is the relay's word that it is queued: the next one is surely behind it.
            Assert.Equal("new_connection\r\n", await control.ReadLineAsync());
        }

        var received = new List<string>();
        var reverses = new List<Socket>();
        for (var i = 0; i < 3; i++)
        {
            var reverse = await DataPort.ConnectAsync(reversePort);
            reverses.Add(reverse);
            received.Add(await DataPort.ReadAsync(reverse, 1));
        }

        Assert.Equal(["A", "B", "C"], received);

        using var surplus = await DataPort.ConnectAsync(reversePort);
        Assert.Equal("", await DataPort.ReadToEndAsync(surplus, Prompt));

        // Each pairing works both ways.
        for (var i = 0; i < 3; i++)
        {
            await DataPort.SendAsync(reverses[i], $"to{i}");
            Assert.Equal($"to{i}", await DataPort.ReadAsync(clients[i], 3));
        }

        foreach (var socket in clients.Concat(reverses))
        {
            socket.Dispose();
        }
    }

    [Fact]
    public async Task RELAY_4_a_control_session_that_ends_closes_its_pairs_connections_and_its_pair_goes_to_the_back()
    {
        await using var tpt = await StartRelayAsync();
        var p = tpt.EndPoint("relay").Port;
        var control = await ControlClient.ConnectAsync(tpt.EndPoint("relay"), _pki);
        var (publicPort, reversePort) = await control.ReadListenersAsync();
        Assert.Equal((p + 3, p + 1), (publicPort, reversePort));

        var sockets = new List<Socket>();
        for (var i = 0; i < 2; i++)
        {
            var client = await DataPort.ConnectAsync(publicPort);
            await DataPort.SendAsync(client, "x");
            Assert.Equal("new_connection\r\n", await control.ReadLineAsync());
            var reverse = await DataPort.ConnectAsync(reversePort);
            Assert.Equal("x", await DataPort.ReadAsync(reverse, 1));
            sockets.Add(client);
            sockets.Add(reverse);
        }

        await control.DisposeAsync();
        foreach (var socket in sockets)
        {
            Assert.Equal("", await DataPort.ReadToEndAsync(socket, Prompt));
            socket.Dispose();
        }

        await tpt.WaitForLineAsync(l => l.Contains("pair 0 freed", StringComparison.Ordinal));
        using var late = await DataPort.ConnectAsync(publicPort);
        Assert.Equal("no controller linked", await DataPort.ReadToEndAsync(late));
        using var lateReverse = await DataPort.ConnectAsync(reversePort);
        Assert.Equal("no controller linked", await DataPort.ReadToEndAsync(lateReverse));

        await using var next = await ControlClient.ConnectAsync(tpt.EndPoint("relay"), _pki);
        Assert.Equal((p + 4, p + 2), await next.ReadListenersAsync());
        await using var last = await ControlClient.ConnectAsync(tpt.EndPoint("relay"), _pki);
        Assert.Equal((p + 3, p + 1), await last.ReadListenersAsync());
    }

    [Fact]
    public async Task RELAY_5_a_public_client_that_left_before_pairing_still_takes_the_next_reverse_connection()
    {
        await using var tpt = await StartRelayAsync();
        await using var control = await ControlClient.ConnectAsync(tpt.EndPoint("relay"), _pki);
        var (publicPort, reversePort) = await control.ReadListenersAsync();

        var gone = await DataPort.ConnectAsync(publicPort);
        await DataPort.SendAsync(gone, "gone");
        Assert.Equal("new_connection\r\n", await control.ReadLineAsync());
        gone.Dispose();

        using var live = await DataPort.ConnectAsync(publicPort);
        await DataPort.SendAsync(live, "live");
        Assert.Equal("new_connection\r\n", await control.ReadLineAsync());

        using var first = await DataPort.ConnectAsync(reversePort);
        Assert.Equal("gone", await DataPort.ReadToEndAsync(first, Prompt));

        using var second = await DataPort.ConnectAsync(reversePort);
        Assert.Equal("live", await DataPort.ReadAsync(second, 4));
        await DataPort.SendAsync(second, "ok");
        Assert.Equal("ok", await DataPort.ReadAsync(live, 2));
    }

    [Fact]
    public async Task A_line_from_the_server_is_ignored_by_default_and_ends_the_session_with_ignore_control_input_false()
    {
        await using var tolerant = await StartRelayAsync();
        await using var control = await ControlClient.ConnectAsync(tolerant.EndPoint("relay"), _pki);
        var (publicPort, _) = await control.ReadListenersAsync();
        await control.WriteAsync("hello relay\r\n");
        using var client = await DataPort.ConnectAsync(publicPort);
        Assert.Equal("new_connection\r\n", await control.ReadLineAsync());

        await using var strict = await StartRelayAsync("ignore_control_input: false");
        await using var strictControl = await ControlClient.ConnectAsync(strict.EndPoint("relay"), _pki);
        var (strictPublic, _) = await strictControl.ReadListenersAsync();
        await strictControl.WriteAsync("hello relay\r\n");
        Assert.Equal("", await strictControl.ReadToEndAsync());
        await strict.WaitForLineAsync(l => l.Contains("pair 0 freed", StringComparison.Ordinal));
        using var refused = await DataPort.ConnectAsync(strictPublic);
        Assert.Equal("no controller linked", await DataPort.ReadToEndAsync(refused));
    }

    private async Task<TptProcess> StartRelayAsync(string extra = "")
    {
        var config = new TempConfig($$"""
            version: 2
            servers:
              relay:
                kind: tls_relay
                listen: ["127.0.0.1:0"]
                terminate_tls: {cert: "{{_pki.Cert("server")}}", key: "{{_pki.Key("server")}}", client_ca: "{{_pki.Cert("clientca")}}", client_cert: require}
                relay:
                  advertise_host: 127.0.0.1
                  port_count: 4
                  {{extra}}
            upstream: {}
            """);
        try
        {
            return await TptProcess.StartAsync(config.Path, expectedListeners: 1);
        }
        finally
        {
            // The file was read at start; the directory can go.
            config.Dispose();
        }
    }
}
