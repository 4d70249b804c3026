using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Tests.Tls;

/// <summary>The stream that feeds bytes already read into a handshake: nothing lost, nothing read twice.</summary>
public sealed class PrefixedStreamTests
{
    [Fact]
    public async Task The_prefix_comes_first_then_the_socket_in_order_with_no_byte_twice()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        using var server = await listener.AcceptAsync();

        await client.SendAsync("DEFGH"u8.ToArray());
        client.Shutdown(SocketShutdown.Send);
        await using var stream = new PrefixedStream(server, "ABC"u8.ToArray());

        // A zero-byte read with prefix left completes at once: data is there.
        Assert.Equal(0, await stream.ReadAsync(Memory<byte>.Empty));
        var buffer = new byte[2];
        Assert.Equal(2, await stream.ReadAsync(buffer));
        Assert.Equal("AB"u8.ToArray(), buffer);
        Assert.False(stream.PrefixConsumed);
        var rest = new MemoryStream();
        await stream.CopyToAsync(rest);
        Assert.True(stream.PrefixConsumed);
        Assert.Equal("CDEFGH"u8.ToArray(), rest.ToArray());
    }
}
