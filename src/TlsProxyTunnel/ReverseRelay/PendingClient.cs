using System.Buffers;
using System.Net.Sockets;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Engine.Linux;

namespace TlsProxyTunnel.ReverseRelay;

/// <summary>
/// A public client waiting for its reverse connection. What it sends meanwhile is read into one pooled buffer of
/// at most max_pending_bytes; at the cap reading stops, so TCP flow control holds the client, not memory.
/// </summary>
/// <param name="engine">The socket as the Linux engine drives it (its loop is where the pair will be relayed); null
/// on System.Net.Sockets.</param>
internal sealed class PendingClient(Socket socket, EngineSocket? engine, int cap) : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private byte[]? _buffer;
    private int _length;
    private volatile bool _ended;
    private Task _reading = Task.CompletedTask;
    private Timer? _timer;

    public Socket Socket { get; } = socket;

    public EngineSocket? Engine { get; } = engine;

    /// <summary>Set under the session's lock when a reverse connection took it.</summary>
    public bool Paired { get; set; }

    /// <summary>The client is still there (no EOF, error or pending timeout before pairing).</summary>
    public bool IsLive => !_ended;

    public void StartReading() => _reading = Engine is null ? ReadAsync(new SocketReceiver(Socket)) : ReadAsync(new EngineReceiver(Engine));

    public void ExpireAfter(TimeSpan timeout, Action expire) =>
        _timer = new Timer(static s => ((Action)s!)(), expire, timeout, Timeout.InfiniteTimeSpan);

    private async Task ReadAsync<TReceiver>(TReceiver receiver)
        where TReceiver : struct, IReceiver
    {
        try
        {
            while (_length < cap)
            {
                // Wait holding no buffer: a flood of idle clients costs sockets, not memory.
                await receiver.ReceiveAsync(Memory<byte>.Empty, _stop.Token);
                _buffer ??= ArrayPool<byte>.Shared.Rent(cap);

                // A receive takes bytes only in the step that returns them (a cancelled wait took none), so stopping
                // at either await never loses any.
                var read = await receiver.ReceiveAsync(_buffer.AsMemory(_length, cap - _length), _stop.Token);
                if (read == 0)
                {
                    _ended = true;
                    return;
                }

                _length += read;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            if (e is not OperationCanceledException)
            {
                _ended = true;
            }
        }
    }

    /// <summary>Stops reading and hands over what was read before pairing.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> StopReadingAsync()
    {
        _timer?.Dispose();
        await _stop.CancelAsync();
        await _reading;
        return _buffer is null ? ReadOnlyMemory<byte>.Empty : _buffer.AsMemory(0, _length);
    }

    /// <summary>
    /// Once reading has stopped: the pooled buffer with what was read before pairing (its owner returns it to
    /// <see cref="ArrayPool{T}.Shared"/>), or null when nothing was.
    /// </summary>
    public byte[]? TakeBuffer(out int length)
    {
        length = _length;
        return Interlocked.Exchange(ref _buffer, null);
    }

    /// <summary>pending_timeout passed: the client is closed, its bytes are kept for the reverse connection that will come.</summary>
    public void Expire()
    {
        _ended = true;
        _stop.Cancel();
        CloseSocket();
    }

    /// <summary>The session ended before pairing.</summary>
    public void Abandon()
    {
        _timer?.Dispose();
        _ended = true;
        _stop.Cancel();
        CloseSocket();
        _ = _reading.ContinueWith(static (_, s) => ((PendingClient)s!).Dispose(), this, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    /// <summary>Closes the client (a FIN); on the engine only once the read has stopped, since the loop must be done with a descriptor before it closes.</summary>
    private void CloseSocket()
    {
        if (Engine is null)
        {
            Socket.Dispose();
        }
        else if (_reading.IsCompleted)
        {
            Engine.Close();
        }
        else
        {
            _ = _reading.ContinueWith(static (_, s) => ((EngineSocket)s!).Close(), Engine, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
    }

    public void ReturnBuffer()
    {
        if (Interlocked.Exchange(ref _buffer, null) is { } buffer)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Once reading has stopped for good: the buffer goes back to the pool.</summary>
    public void Dispose()
    {
        _timer?.Dispose();
        _stop.Dispose();
        ReturnBuffer();
    }
}
