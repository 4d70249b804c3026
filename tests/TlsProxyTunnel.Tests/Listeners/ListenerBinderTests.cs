using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Tests.Infrastructure;

namespace TlsProxyTunnel.Tests.Listeners;

public sealed class ListenerBinderTests
{
    [Fact]
    public void An_address_that_cannot_be_bound_fails_the_whole_generation_and_leaves_nothing_bound()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen(1);
        var busy = ((IPEndPoint)taken.LocalEndPoint!).Port;

        // A free port first (found by binding it, then released), then the busy one.
        int free;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            free = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        var metrics = new ProxyMetrics();
        var snapshot = Loopback.Snapshot($"version: 2\nservers:\n  web:\n    listen: [\"127.0.0.1:{free}\", \"127.0.0.1:{busy}\"]\n    default: echo\n", metrics);

        Assert.False(ListenerBinder.TryBindAll(snapshot, _ => false, metrics, out var added, out var error));

        Assert.Empty(added);
        Assert.Equal($"cannot listen on 127.0.0.1:{busy}: address in use (server web)", error);

        // The address bound before the failure was closed again.
        using var again = ListenerBinder.Bind(new IPEndPoint(IPAddress.Loopback, free));
        Assert.Equal(free, ((IPEndPoint)again.LocalEndPoint!).Port);
    }

    [Fact]
    public void Addresses_already_bound_are_left_alone_and_port_0_is_shown_as_bound()
    {
        var metrics = new ProxyMetrics();
        var snapshot = Loopback.Snapshot("version: 2\nservers:\n  web:\n    listen: [\"127.0.0.1:0\", \"127.0.0.1:1\"]\n    default: echo\n", metrics);

        Assert.True(ListenerBinder.TryBindAll(snapshot, key => key == "127.0.0.1:1", metrics, out var added, out _));

        var listener = Assert.Single(added);
        Assert.Equal("web/127.0.0.1:0", listener.Key);
        Assert.NotEqual(0, listener.Listen.EndPoint.Port);
        Assert.Equal(listener.Listen.EndPoint.ToString(), listener.Text);
        listener.Close();
        Assert.True(listener.IsClosed);
    }
}
