using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Reliability;

/// <summary>What the fake proxy does after reading a CONNECT request head.</summary>
public enum ProxyBehaviour
{
    /// <summary>Answer 200 and echo everything after, half-closing on EOF.</summary>
    Tunnel,

    /// <summary>Send the first bytes of a status line, then close: a proxy dying mid-handshake.</summary>
    CloseMidHandshake,
}

/// <summary>A loopback fake HTTP CONNECT proxy that records every connection and every byte it is sent.</summary>
public sealed class RecordingProxy : IAsyncDisposable
{
    private readonly ProxyBehaviour _behaviour;
    private readonly AcceptLoop _server;

    public RecordingProxy(ProxyBehaviour behaviour = ProxyBehaviour.Tunnel)
    {
        _behaviour = behaviour;
        _server = new AcceptLoop(ServeAsync);
    }

    public int Port => _server.EndPoint.Port;

    public int Accepted => (int)_server.Accepted;

    /// <summary>Request heads received (as Latin-1 text, so every byte shows).</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private async Task ServeAsync(Socket socket, CancellationToken cancellationToken)
    {
        using var _ = socket;
        try
        {
            var head = new List<byte>();
            var buffer = new byte[65536];
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            int end;
            while ((end = IndexOfEnd(head)) < 0)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, timeout.Token);
                if (read == 0)
                {
                    Requests.Enqueue(Encoding.Latin1.GetString([.. head]));
                    return;
                }

                head.AddRange(buffer.AsSpan(0, read).ToArray());
            }

            Requests.Enqueue(Encoding.Latin1.GetString(head.GetRange(0, end).ToArray()));
            if (_behaviour == ProxyBehaviour.CloseMidHandshake)
            {
                await socket.SendAsync("HTTP/1.1 20"u8.ToArray(), SocketFlags.None);
                return;
            }

            await socket.SendAsync("HTTP/1.1 200 Connection established\r\n\r\n"u8.ToArray(), SocketFlags.None);
            var rest = head.Skip(end).ToArray();
            if (rest.Length > 0)
            {
                await socket.SendAsync(rest, SocketFlags.None);
            }

            while (true)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, timeout.Token);
                if (read == 0)
                {
                    socket.Shutdown(SocketShutdown.Send);
                    return;
                }

                await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, CancellationToken.None);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private static int IndexOfEnd(List<byte> head)
    {
        for (var i = 3; i < head.Count; i++)
        {
            if (head[i - 3] == '\r' && head[i - 2] == '\n' && head[i - 1] == '\r' && head[i] == '\n')
            {
                return i + 1;
            }
        }

        return -1;
    }
}
