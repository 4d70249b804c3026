using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>
/// A scripted stand-in for an HTTP proxy, for behaviour no real proxy shows on demand: silence,
/// answers cut into segments, bytes right after the header block. It records every byte it receives.
/// </summary>
public sealed class FakeProxy : IAsyncDisposable
{
    private readonly Func<Socket, FakeProxyConnection, CancellationToken, Task> _script;
    private readonly Channel<FakeProxyConnection> _accepted = Channel.CreateUnbounded<FakeProxyConnection>();
    private readonly AcceptLoop _server;

    /// <param name="script">Runs per connection after accept; receiving continues in the background whatever it does.</param>
    private FakeProxy(Func<Socket, FakeProxyConnection, CancellationToken, Task> script)
    {
        _script = script;
        _server = new AcceptLoop(ServeAsync);
    }

    public IPEndPoint EndPoint => _server.EndPoint;

    public int AcceptedCount => (int)_server.Accepted;

    /// <summary>Accepts and reads everything, never writes a byte: a proxy that hangs.</summary>
    public static FakeProxy Silent() => new((_, _, _) => Task.CompletedTask);

    /// <summary>Waits for the whole CONNECT request, then sends <paramref name="segments"/> one send each, pausing between them.</summary>
    public static FakeProxy Answering(params byte[][] segments) => new(async (socket, connection, ct) =>
    {
        await connection.RequestComplete.WaitAsync(ct);
        foreach (var segment in segments)
        {
            await socket.SendAsync(segment, SocketFlags.None, ct);

            // Only to make the segments leave as separate TCP segments; nothing is awaited on.
            await Task.Delay(30, ct);
        }
    });

    public async Task<FakeProxyConnection> NextConnectionAsync(TimeSpan? timeout = null) =>
        await _accepted.Reader.ReadAsync().AsTask().WaitAsync(timeout ?? TimeSpan.FromSeconds(10));

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private async Task ServeAsync(Socket socket, CancellationToken token)
    {
        using var _ = socket;

        // Queued before the first await, still on the accepting thread, so connections queue in accept order.
        var connection = new FakeProxyConnection();
        _accepted.Writer.TryWrite(connection);
        var receive = connection.ReceiveAllAsync(socket, token);
        try
        {
            await _script(socket, connection, token);
            await receive;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }
}

/// <summary>What one connection to a <see cref="FakeProxy"/> carried.</summary>
public sealed class FakeProxyConnection
{
    private static readonly byte[] EndOfHeaders = "\r\n\r\n"u8.ToArray();

    private readonly MemoryStream _received = new();
    private readonly TaskCompletionSource _requestComplete = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once a blank line (the end of the CONNECT request) has arrived.</summary>
    public Task RequestComplete => _requestComplete.Task;

    /// <summary>Completes when the peer closed or reset the connection.</summary>
    public Task Closed => _closed.Task;

    public byte[] Received
    {
        get
        {
            lock (_received)
            {
                return _received.ToArray();
            }
        }
    }

    /// <summary>The CONNECT request head, through its blank line.</summary>
    public string Request
    {
        get
        {
            var all = Received;
            var end = all.AsSpan().IndexOf(EndOfHeaders);
            return end < 0 ? Encoding.ASCII.GetString(all) : Encoding.ASCII.GetString(all, 0, end + EndOfHeaders.Length);
        }
    }

    /// <summary>Bytes after the CONNECT request: what the client sent through the tunnel.</summary>
    public byte[] Tunnelled
    {
        get
        {
            var all = Received;
            var end = all.AsSpan().IndexOf(EndOfHeaders);
            return end < 0 ? [] : all[(end + EndOfHeaders.Length)..];
        }
    }

    internal async Task ReceiveAllAsync(Socket socket, CancellationToken ct)
    {
        var buffer = new byte[16384];
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, ct);
                if (read == 0)
                {
                    break;
                }

                lock (_received)
                {
                    _received.Write(buffer, 0, read);
                    if (_received.ToArray().AsSpan().IndexOf(EndOfHeaders) >= 0)
                    {
                        _requestComplete.TrySetResult();
                    }
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            _closed.TrySetResult();
        }
    }
}
