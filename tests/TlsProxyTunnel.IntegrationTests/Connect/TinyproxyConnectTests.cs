using System.Net;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.IntegrationTests.Fixtures;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.Upstreams.HttpConnect;

namespace TlsProxyTunnel.IntegrationTests.Connect;

/// <summary><see cref="ConnectTunnel"/> against a real tinyproxy and a loopback target.</summary>
public sealed class TinyproxyConnectTests
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Handshake = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Tunnel_through_tinyproxy_carries_bytes_both_ways()
    {
        await using var proxy = await TinyproxyFixture.StartAsync().WaitAsync(TestTimeout);
        using var target = new TcpListener(IPAddress.Loopback, 0);
        target.Start();
        var echo = EchoOnceAsync(target);
        using var socket = await ConnectAsync(proxy.EndPoint);

        var result = await ConnectTunnel.EstablishAsync(socket, Authority(target), [new ProxyHeader("X-Test", "1", false)], Handshake, default)
            .AsTask().WaitAsync(TestTimeout);

        Assert.True(result.IsEstablished, $"{result.Status} {result.StatusCode} {result.Reason}\n{proxy.Output}");
        Assert.Equal(200, result.StatusCode);
        var payload = "ping through the tunnel"u8.ToArray();
        await socket.SendAsync(payload.AsMemory(), SocketFlags.None).AsTask().WaitAsync(TestTimeout);
        Assert.Equal(payload, await ReadExactlyAsync(socket, result.Leftover, payload.Length));
        socket.Shutdown(SocketShutdown.Send);
        await echo.WaitAsync(TestTimeout);
    }

    [Fact]
    public async Task Server_first_bytes_reach_the_caller_via_leftover_or_the_socket()
    {
        await using var proxy = await TinyproxyFixture.StartAsync().WaitAsync(TestTimeout);
        using var target = new TcpListener(IPAddress.Loopback, 0);
        target.Start();
        var banner = "SSH-2.0-FakeServer\r\n"u8.ToArray();
        var serve = SendBannerAsync(target, banner);
        using var socket = await ConnectAsync(proxy.EndPoint);

        var result = await ConnectTunnel.EstablishAsync(socket, Authority(target), [], Handshake, default).AsTask().WaitAsync(TestTimeout);

        Assert.True(result.IsEstablished, $"{result.Status} {result.StatusCode}\n{proxy.Output}");
        Assert.Equal(banner, await ReadExactlyAsync(socket, result.Leftover, banner.Length));
        await serve.WaitAsync(TestTimeout);
    }

    [Fact]
    public async Task Basic_auth_is_accepted_and_a_missing_credential_gets_407()
    {
        await using var proxy = await TinyproxyFixture.StartAsync(("tpt", "s3cret")).WaitAsync(TestTimeout);
        using var target = new TcpListener(IPAddress.Loopback, 0);
        target.Start();
        var echo = EchoOnceAsync(target);

        using (var anonymous = await ConnectAsync(proxy.EndPoint))
        {
            var refused = await ConnectTunnel.EstablishAsync(anonymous, Authority(target), [], Handshake, default).AsTask().WaitAsync(TestTimeout);

            Assert.Equal(ConnectTunnelStatus.ProxyRefused, refused.Status);
            Assert.Equal(407, refused.StatusCode);
        }

        using var authenticated = await ConnectAsync(proxy.EndPoint);
        var credential = Convert.ToBase64String("tpt:s3cret"u8);
        var result = await ConnectTunnel.EstablishAsync(
            authenticated, Authority(target), [new ProxyHeader("Proxy-Authorization", "Basic " + credential, true)], Handshake, default)
            .AsTask().WaitAsync(TestTimeout);

        Assert.True(result.IsEstablished, $"{result.Status} {result.StatusCode} {result.Reason}\n{proxy.Output}");
        authenticated.Shutdown(SocketShutdown.Send);
        await echo.WaitAsync(TestTimeout);
    }

    [Fact]
    public async Task A_refusing_target_is_reported_as_proxy_refusal()
    {
        await using var proxy = await TinyproxyFixture.StartAsync().WaitAsync(TestTimeout);
        using var closedPort = new RefusingPort();
        using var socket = await ConnectAsync(proxy.EndPoint);

        var result = await ConnectTunnel.EstablishAsync(socket, $"127.0.0.1:{closedPort.Port}", [], Handshake, default).AsTask().WaitAsync(TestTimeout);

        Assert.Equal(ConnectTunnelStatus.ProxyRefused, result.Status);
        Assert.InRange(result.StatusCode, 400, 599);
    }

    private static string Authority(TcpListener listener) => $"127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";

    private static async Task<Socket> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint).WaitAsync(TestTimeout);
        return socket;
    }

    /// <summary>Leftover first, then the socket, as the data path will do.</summary>
    private static async Task<byte[]> ReadExactlyAsync(Socket socket, ReadOnlyMemory<byte> leftover, int count)
    {
        var buffer = new byte[count];
        var have = Math.Min(leftover.Length, count);
        leftover.Span[..have].CopyTo(buffer);
        while (have < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(have), SocketFlags.None).AsTask().WaitAsync(TestTimeout);
            if (n == 0)
            {
                throw new InvalidOperationException($"EOF after {have} of {count} bytes: {Encoding.ASCII.GetString(buffer, 0, have)}");
            }

            have += n;
        }

        return buffer;
    }

    private static async Task EchoOnceAsync(TcpListener listener)
    {
        using var peer = await listener.AcceptSocketAsync().WaitAsync(TestTimeout);
        var buffer = new byte[4096];
        while (true)
        {
            var n = await peer.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(TestTimeout);
            if (n == 0)
            {
                return;
            }

            await peer.SendAsync(buffer.AsMemory(0, n), SocketFlags.None).AsTask().WaitAsync(TestTimeout);
        }
    }

    private static async Task SendBannerAsync(TcpListener listener, byte[] banner)
    {
        using var peer = await listener.AcceptSocketAsync().WaitAsync(TestTimeout);
        await peer.SendAsync(banner.AsMemory(), SocketFlags.None).AsTask().WaitAsync(TestTimeout);
        peer.Shutdown(SocketShutdown.Send);
    }
}
