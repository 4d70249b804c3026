using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>
/// A UDP echo on a loopback port (a real socket, as WireGuard's would be): every datagram goes back to its sender as
/// it came. Remembers which source addresses sent and the size of each datagram.
/// </summary>
public sealed class UdpEcho : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly ConcurrentDictionary<string, int> _sources = new();
    private readonly ConcurrentQueue<int> _sizes = new();

    public UdpEcho(bool echo = true)
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _socket.ReceiveBufferSize = 4 * 1024 * 1024;
        _ = Task.Run(() => LoopAsync(echo));
    }

    public int Port => ((IPEndPoint)_socket.LocalEndPoint!).Port;

    /// <summary>The source addresses seen so far, each with its datagram count.</summary>
    public IReadOnlyDictionary<string, int> Sources => _sources;

    public IReadOnlyCollection<int> Sizes => _sizes;

    private async Task LoopAsync(bool echo)
    {
        var buffer = new byte[65536];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any);
                _sources.AddOrUpdate(result.RemoteEndPoint.ToString()!, 1, (_, n) => n + 1);
                _sizes.Enqueue(result.ReceivedBytes);
                if (echo)
                {
                    await _socket.SendToAsync(buffer.AsMemory(0, result.ReceivedBytes), SocketFlags.None, result.RemoteEndPoint);
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Disposed.
        }
    }

    public void Dispose() => _socket.Dispose();
}

/// <summary>A UDP client of a tunnel's entry: sends numbered datagrams and collects the replies.</summary>
public sealed class UdpPeer : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

    public UdpPeer(int port)
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _socket.ReceiveBufferSize = 4 * 1024 * 1024;
        _socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
    }

    public Socket Socket => _socket;

    public void Send(ReadOnlySpan<byte> datagram) => _socket.Send(datagram);

    /// <summary>The next datagram, or null when none comes within <paramref name="wait"/>.</summary>
    public async Task<byte[]?> ReceiveAsync(TimeSpan wait)
    {
        var buffer = new byte[65536];
        using var deadline = new CancellationTokenSource(wait);
        try
        {
            var read = await _socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
            return buffer[..read];
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Sends <paramref name="count"/> numbered datagrams and returns the replies that came back, in arrival order.</summary>
    public async Task<List<string>> EchoNumberedAsync(int count, string tag, TimeSpan quiet)
    {
        for (var i = 0; i < count; i++)
        {
            Send(System.Text.Encoding.ASCII.GetBytes($"{tag}-{i:D3}"));
        }

        var replies = new List<string>();
        while (replies.Count < count && await ReceiveAsync(quiet) is { } reply)
        {
            replies.Add(System.Text.Encoding.ASCII.GetString(reply));
        }

        return replies;
    }

    public void Dispose() => _socket.Dispose();
}
