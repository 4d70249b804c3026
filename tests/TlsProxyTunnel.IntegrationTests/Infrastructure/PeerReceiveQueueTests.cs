using System.Net;
using System.Net.Sockets;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>The helper that tells split-segment tests tpt has read a chunk must see a real queue, or they prove nothing.</summary>
public sealed class PeerReceiveQueueTests
{
    [Fact]
    public async Task The_peer_queue_counts_bytes_the_peer_has_not_read_and_empties_when_it_reads()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = await RawClient.ConnectAsync((IPEndPoint)listener.LocalEndPoint!);
        using var peer = await listener.AcceptAsync().WaitAsync(RawClient.Timeout);

        await client.SendAsync(new byte[10]);
        Assert.Equal(10, PeerReceiveQueue.Of(client.Socket));

        var buffer = new byte[10];
        var read = 0;
        while (read < 10)
        {
            read += await peer.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None).AsTask().WaitAsync(RawClient.Timeout);
        }

        Assert.True(await PeerReceiveQueue.WaitUntilReadAsync(client.Socket, RawClient.Timeout));
        Assert.Equal(0, PeerReceiveQueue.Of(client.Socket));
    }
}
