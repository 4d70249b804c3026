using System.Net;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Monitoring;

/// <summary>
/// One tpt that has already carried every kind of traffic its metrics count: a routed TLS connection, a
/// connection refused at maxclients, a CONNECT proxy answering 403, a CONNECT proxy that never answers, an
/// upstream that refuses connections, and a client through a reverse relay and a publisher (both in this process). Then every metric family on /metrics has samples, and the ones the
/// dashboard and alerts are about are non-zero.
/// </summary>
public sealed class MonitoredTptFixture : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private readonly TestBackend _backend = new("A");
    private readonly FakeProxy _refusingProxy = FakeProxy.Answering("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"u8.ToArray());
    private readonly FakeProxy _silentProxy = FakeProxy.Silent();
    private readonly UdpEcho _udpEcho = new();

    // Bound but not listening: connecting to it is refused at once.
    private readonly Socket _closedPort = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    public TptRun Tpt { get; private set; } = null!;

    public IPEndPoint Health => Tpt.EndPoint("health");

    public async Task InitializeAsync()
    {
        _closedPort.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        // The publisher names its relay's control port before the process starts, so no port 0 for the relay.
        var control = FreePort.TcpBlock(3);
        Tpt = await TptRun.StartAsync($"""
            version: 2
            servers:
              tls:
                listen: ["127.0.0.1:0"]
                tls: true
                sni:
                  a.example.test: a
                default: a
              capped:
                listen: ["127.0.0.1:0"]
                default: echo
                maxclients: 1
              refused:
                listen: ["127.0.0.1:0"]
                tls: true
                default: refusingproxy
                via:
                  target: "origin.example.test:443"
              silent:
                listen: ["127.0.0.1:0"]
                tls: true
                default: silentproxy
                via:
                  target: "origin.example.test:443"
                  handshake_timeout: 300ms
              dead:
                listen: ["127.0.0.1:0"]
                tls: true
                default: deadupstream
              pooled:
                listen: ["127.0.0.1:0"]
                tls: true
                default: apooled
              datagrams:
                protocol: udp
                listen: ["127.0.0.1:0"]
                default: udpecho
              health:
                listen: ["127.0.0.1:0"]
                default: health
              relay:
                kind: tls_relay
                listen: ["127.0.0.1:{control}"]
                relay:
                  port_count: 2
              published:
                kind: relay_publisher
                relay: "127.0.0.1:{control}"
                default: echo
            upstream:
              udpecho: "udp://127.0.0.1:{_udpEcho.Port}"
              a: "tcp://{_backend.Address}"
              apooled:
                address: "tcp://{_backend.Address}"
                pool:
                  size: 1
              refusingproxy: "tcp://{_refusingProxy.EndPoint}"
              silentproxy: "tcp://{_silentProxy.EndPoint}"
              deadupstream: "tcp://127.0.0.1:{((IPEndPoint)_closedPort.LocalEndPoint!).Port}"
            """, listeners: 8).WaitAsync(Timeout);

        var hello = await OpenSsl.CaptureClientHelloAsync("a.example.test").WaitAsync(Timeout);
        foreach (var server in (string[])["tls", "refused", "silent", "dead", "pooled"])
        {
            // Each of these ends on tpt's side (backend done, 403, handshake_timeout, refused connect, backend done).
            using var client = await RawClient.ConnectAsync(Tpt.EndPoint(server));
            await client.SendAsync(hello);
            client.ShutdownSend();
            await client.ReadToEndAsync();
        }

        // One client through the relay's public port (control + 2) to the publisher's echo.
        await Tpt.Process.WaitForLineAsync(l => l.Contains("published through relay", StringComparison.Ordinal));
        using (var relayed = await RawClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, control + 2)))
        {
            await relayed.SendAsync("r"u8.ToArray());
            Assert.Equal("r", Encoding.ASCII.GetString(await relayed.ReadExactlyAsync(1)));
        }

        // One datagram each way through a UDP session.
        using (var peer = new UdpPeer(Tpt.EndPoint("datagrams").Port))
        {
            Assert.Single(await peer.EchoNumberedAsync(1, "metrics", Timeout));
        }

        // maxclients: 1 held by one echoing connection; the next is refused.
        using var holder = await RawClient.ConnectAsync(Tpt.EndPoint("capped"));
        await holder.SendAsync("x"u8.ToArray());
        Assert.Equal("x", Encoding.ASCII.GetString(await holder.ReadExactlyAsync(1)));
        using var refused = await RawClient.ConnectAsync(Tpt.EndPoint("capped"));
        var (data, _) = await refused.ReadToEndAsync();
        Assert.Empty(data);
    }

    public async Task DisposeAsync()
    {
        if (Tpt is not null)
        {
            await Tpt.DisposeAsync();
        }

        await _backend.DisposeAsync();
        await _refusingProxy.DisposeAsync();
        await _silentProxy.DisposeAsync();
        _closedPort.Dispose();
        _udpEcho.Dispose();
    }
}
