using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Fixtures;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Status;

/// <summary>
/// One tpt with example traffic behind it: routed connections to a backend found through a real DNS server
/// (dnsmasq), an upstream that refuses connects, a CONNECT proxy that answers 407, a server at its limit
/// with one connection rejected, and a server whose name needs escaping.
/// </summary>
public sealed class StatusPageFixture : IAsyncLifetime
{
    /// <summary>Quotes, angle brackets and an ampersand: the page must show it as text.</summary>
    public const string OddServer = "edge <\"main\"> & co";

    public const int AppConnections = 3;

    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private DnsmasqFixture? _dns;
    private FakeProxy? _proxy;
    private TempConfig? _config;
    private RawClient? _held;

    // The "down" upstream's port, refusing for the fixture's whole life (the status page is read again and again).
    private readonly RefusingPort _closedPort = new();

    public TestBackend App { get; } = new("APP");

    public TptProcess Tpt { get; private set; } = null!;

    public string StatusUrl => $"http://{Tpt.EndPoint("health")}/status";

    public async Task InitializeAsync()
    {
        _dns = await DnsmasqFixture.StartAsync(["127.0.0.1 app.status.test"], ttl: 300).WaitAsync(Bound);
        _proxy = FakeProxy.Answering("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"u8.ToArray());
        var closedPort = _closedPort.Port;
        _config = new TempConfig($"""
            version: 2
            log: info
            resolver:
              nameservers: ["{_dns.EndPoint}"]
            servers:
              '{OddServer}':
                listen: ["127.0.0.1:0"]
                tls: true
                maxclients: 50
                sni:
                  app.example.test: app
                  down.example.test: down
                  proxied.example.test:
                    upstream: proxy
                    via:
                      target: "app.internal:443"
                default: ban
              limited:
                listen: ["127.0.0.1:0"]
                tls: true
                maxclients: 1
                default: app
              health:
                listen: ["127.0.0.1:0"]
                default: health
            upstream:
              app: "tcp://app.status.test:{App.Port}"
              down: "tcp://127.0.0.1:{closedPort}"
              proxy: "tcp://{_proxy.EndPoint}"
            """);
        Tpt = await TptProcess.StartAsync(_config.Path, expectedListeners: 3);

        await SendExampleTrafficAsync();

        // 'limited' holds one connection (1 of 1) for the fixture's life and turns the next away.
        var appHello = await OpenSsl.CaptureClientHelloAsync("app.example.test");
        _held = await RawClient.ConnectAsync(Tpt.EndPoint("limited"));
        await _held.SendAsync(appHello);
        Assert.Equal("APP", await _held.ReadBannerAsync());
        await ExchangeAsync(Tpt.EndPoint("limited"), appHello, admitted: false);
    }

    /// <summary>
    /// <see cref="AppConnections"/> connections to the backend, one to the refusing upstream, one through the
    /// 407 proxy and one to the default (ban). Each is over, counted and logged, before the next starts.
    /// </summary>
    public async Task SendExampleTrafficAsync()
    {
        var edge = Tpt.EndPoint(OddServer);
        var appHello = await OpenSsl.CaptureClientHelloAsync("app.example.test");
        for (var i = 0; i < AppConnections; i++)
        {
            Assert.Contains("BKND:APP", await ExchangeAsync(edge, appHello), StringComparison.Ordinal);
            App.NextFinished();
        }

        await ExchangeAsync(edge, await OpenSsl.CaptureClientHelloAsync("down.example.test"));
        await ExchangeAsync(edge, await OpenSsl.CaptureClientHelloAsync("proxied.example.test"));
        await ExchangeAsync(edge, await OpenSsl.CaptureClientHelloAsync("unknown.example.test"));
    }

    public async Task DisposeAsync()
    {
        _held?.Dispose();
        if (Tpt is not null)
        {
            await Tpt.DisposeAsync();
        }

        await App.DisposeAsync();
        if (_proxy is not null)
        {
            await _proxy.DisposeAsync();
        }

        if (_dns is not null)
        {
            await _dns.DisposeAsync();
        }

        _config?.Dispose();
        _closedPort.Dispose();
    }

    /// <summary>
    /// Sends a ClientHello, half-closes, and reads until tpt closes: the whole connection, start to end. tpt closes
    /// the client before it counts the connection's outcome and leaves the server's active gauge, so an admitted
    /// connection is over only at its access line, written after both.
    /// </summary>
    private async Task<string> ExchangeAsync(System.Net.IPEndPoint endPoint, byte[] hello, bool admitted = true)
    {
        using var client = await RawClient.ConnectAsync(endPoint);
        var local = client.Socket.LocalEndPoint!.ToString();
        try
        {
            await client.SendAsync(hello);
            client.ShutdownSend();
        }
        catch (SocketException)
        {
            // Rejected connections may be closed before the hello is written.
        }

        var (data, _) = await client.ReadToEndAsync();
        if (admitted)
        {
            await Tpt.WaitForLineAsync(l => l.Contains($"client={local} ", StringComparison.Ordinal) && l.Contains(" outcome=", StringComparison.Ordinal), Bound);
        }

        return Encoding.ASCII.GetString(data);
    }
}
