using System.Net.Sockets;
using TlsProxyTunnel.Engine.Linux;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.ReverseRelay;

/// <summary>
/// One control session's side of its pair: the public clients waiting in arrival order, every open data
/// connection (closed when the session ends), and the <c>new_connection</c> lines owed to the server.
/// </summary>
internal sealed class RelaySession(RelaySettings settings, RelayServerMetrics metrics, Action notify)
{
    private readonly Queue<PendingClient> _pending = new();

    // Every open data connection, with the engine's hold on it where the Linux engine drives it.
    private readonly Dictionary<Socket, EngineSocket?> _open = [];
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public RelayPair? Pair { get; set; }

    /// <summary>Completes when the session ends from the relay's side (shutdown), so its control connection is closed too.</summary>
    public Task Ended => _ended.Task;

    public bool IsEnded
    {
        get
        {
            lock (_gate)
            {
                return _ended.Task.IsCompleted;
            }
        }
    }

    /// <param name="engine">The client as the Linux engine drives it; null on System.Net.Sockets.</param>
    public EnqueueResult Enqueue(Socket client, EngineSocket? engine)
    {
        PendingClient pending;
        lock (_gate)
        {
            if (_ended.Task.IsCompleted)
            {
                return EnqueueResult.Ended;
            }

            if (_pending.Count >= settings.MaxPending)
            {
                return EnqueueResult.Full;
            }

            pending = new PendingClient(client, engine, settings.MaxPendingBytes);
            _pending.Enqueue(pending);
            _open.Add(client, engine);
            metrics.OnPublicQueued();

            // Under the lock: the session's end and a reverse connection both find the read started, so neither can
            // close or take the client between its queueing and its first read (its first step only waits or reads
            // what is there).
            pending.StartReading();
        }

        if (settings.PendingTimeout is { } timeout)
        {
            pending.ExpireAfter(timeout, () => Expire(pending));
        }

        // Queued before it is announced, so the reverse connection it brings always finds it.
        notify();
        return EnqueueResult.Queued;
    }

    /// <summary>
    /// The oldest pending client for <paramref name="reverse"/>. When the client is on the Linux engine, the reverse
    /// connection joins it on the same loop (<paramref name="reverseEngine"/>; null if the kernel refused), so that
    /// one loop relays the pair; attached under the session's lock, so the session's end always finds it.
    /// </summary>
    public bool TryDequeue(Socket reverse, out PendingClient? pending, out EngineSocket? reverseEngine)
    {
        reverseEngine = null;
        lock (_gate)
        {
            if (_ended.Task.IsCompleted || !_pending.TryDequeue(out pending))
            {
                pending = null;
                return false;
            }

            pending.Paired = true;
            if (pending.Engine is { } clientEngine)
            {
                reverseEngine = EngineSocket.TryAttach(reverse, clientEngine.Loop);
            }

            _open.Add(reverse, reverseEngine);
            metrics.OnDequeued();
            return true;
        }
    }

    public void Forget(Socket socket)
    {
        lock (_gate)
        {
            _open.Remove(socket);
        }
    }

    /// <summary>The socket is back on System.Net.Sockets: the session's end closes it as such.</summary>
    public void LeftEngine(Socket socket)
    {
        lock (_gate)
        {
            if (_open.ContainsKey(socket))
            {
                _open[socket] = null;
            }
        }
    }

    /// <summary>Closes every public and reverse connection of the pair; pending entries go with them.</summary>
    public void End()
    {
        KeyValuePair<Socket, EngineSocket?>[] open;
        PendingClient[] pending;
        lock (_gate)
        {
            if (!_ended.TrySetResult())
            {
                return;
            }

            open = [.. _open];
            _open.Clear();
            pending = [.. _pending];
            _pending.Clear();
            metrics.OnDequeued(pending.Length);
        }

        foreach (var entry in pending)
        {
            entry.Abandon();
        }

        foreach (var (socket, engine) in open)
        {
            // A plain close: what was already written is still flushed, then FIN. On the engine the descriptor is
            // shut instead, which ends its relay; whoever runs that relay closes the descriptor after it.
            if (engine is not null)
            {
                engine.Shutdown();
            }
            else
            {
                socket.Dispose();
            }
        }
    }

    private void Expire(PendingClient pending)
    {
        lock (_gate)
        {
            if (pending.Paired || _ended.Task.IsCompleted)
            {
                return;
            }

            // Left in the queue: its new_connection was sent, so a reverse connection will still come for it.
            // Counted before the close: whoever sees the client closed then finds the timeout counted.
            metrics.OnPendingTimeout();
            _open.Remove(pending.Socket);
            pending.Expire();
        }
    }
}

/// <summary>What became of a public client offered to a session.</summary>
internal enum EnqueueResult
{
    Queued,
    Full,
    Ended,
}
