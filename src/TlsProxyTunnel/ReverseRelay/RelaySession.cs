using System.Net.Sockets;
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
    private readonly HashSet<Socket> _open = [];
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

    public EnqueueResult Enqueue(Socket client)
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

            pending = new PendingClient(client, settings.MaxPendingBytes);
            _pending.Enqueue(pending);
            _open.Add(client);
            metrics.OnPublicQueued();
        }

        pending.StartReading();
        if (settings.PendingTimeout is { } timeout)
        {
            pending.ExpireAfter(timeout, () => Expire(pending));
        }

        // Queued before it is announced, so the reverse connection it brings always finds it.
        notify();
        return EnqueueResult.Queued;
    }

    public bool TryDequeue(Socket reverse, out PendingClient? pending)
    {
        lock (_gate)
        {
            if (_ended.Task.IsCompleted || !_pending.TryDequeue(out pending))
            {
                pending = null;
                return false;
            }

            pending.Paired = true;
            _open.Add(reverse);
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

    /// <summary>Closes every public and reverse connection of the pair; pending entries go with them.</summary>
    public void End()
    {
        Socket[] open;
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

        foreach (var socket in open)
        {
            // A plain close: what was already written is still flushed, then FIN.
            socket.Dispose();
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
