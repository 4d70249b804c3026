using System.Collections.Concurrent;

namespace TlsProxyTunnel.Connections;

/// <summary>
/// Every live connection, so a shutdown can wait for them to finish and cut the rest. Connections of probe-only
/// servers are tracked (and cut) but not waited for by the drain: probes keep arriving while it runs, and waiting
/// for them would let a probe or a keep-alive scraper stretch it.
/// </summary>
internal sealed class ConnectionTracker
{
    private readonly ConcurrentDictionary<long, ClientConnection> _live = new();
    private readonly ZeroSignal _all = new();
    private readonly ZeroSignal _draining = new();
    private long _nextId;

    /// <summary>Read on every accept (descriptor guard), so kept apart: ConcurrentDictionary.Count takes every bucket lock.</summary>
    public int Count => _all.Count;

    /// <summary>Live connections a shutdown waits for: all but those of probe-only servers.</summary>
    public int DrainCount => _draining.Count;

    public long NextId() => Interlocked.Increment(ref _nextId);

    /// <summary>The live connections, enumerated without locking or copying (a connection may come or go meanwhile).</summary>
    public IEnumerable<ClientConnection> Live
    {
        get
        {
            foreach (var pair in _live)
            {
                yield return pair.Value;
            }
        }
    }

    public void Add(ClientConnection connection)
    {
        _live[connection.Id] = connection;
        _all.Increment();
        if (!connection.Server.ProbeOnly)
        {
            _draining.Increment();
        }
    }

    public void Remove(ClientConnection connection)
    {
        if (!_live.TryRemove(connection.Id, out _))
        {
            return;
        }

        _all.Decrement();
        if (!connection.Server.ProbeOnly)
        {
            _draining.Decrement();
        }
    }

    /// <summary>Completes when no connection the drain waits for is left (at once if none is).</summary>
    public Task WhenDrained() => _draining.WhenZero();

    /// <summary>Completes when no connection at all is left (at once if none is).</summary>
    public Task WhenClosed() => _all.WhenZero();

    public void AbortAll()
    {
        foreach (var connection in _live.Values)
        {
            connection.Abort(ConnectionOutcome.Aborted);
        }
    }

    /// <summary>A count and a task that completes whenever it reaches zero.</summary>
    private sealed class ZeroSignal
    {
        private TaskCompletionSource _zero = New();
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public void Increment() => Interlocked.Increment(ref _count);

        public void Decrement()
        {
            if (Interlocked.Decrement(ref _count) == 0)
            {
                Volatile.Read(ref _zero).TrySetResult();
            }
        }

        public Task WhenZero()
        {
            if (Count == 0)
            {
                return Task.CompletedTask;
            }

            var signal = Volatile.Read(ref _zero);
            if (signal.Task.IsCompleted)
            {
                Interlocked.CompareExchange(ref _zero, New(), signal);
            }

            // The count may have reached zero between the check and the swap.
            if (Count == 0)
            {
                return Task.CompletedTask;
            }

            return Volatile.Read(ref _zero).Task;
        }

        private static TaskCompletionSource New() => new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
