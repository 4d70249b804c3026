using System.Collections.Concurrent;

namespace TlsProxyTunnel.Connections;

/// <summary>Every live connection, so a shutdown can wait for them to finish and cut the rest.</summary>
internal sealed class ConnectionTracker
{
    private readonly ConcurrentDictionary<long, ClientConnection> _live = new();
    private TaskCompletionSource _drained = NewDrainedSignal();
    private long _nextId;
    private int _count;

    /// <summary>
    /// Read on every accept (descriptor guard), so kept apart: ConcurrentDictionary.Count takes every bucket lock.
    /// </summary>
    public int Count => Volatile.Read(ref _count);

    public long NextId() => Interlocked.Increment(ref _nextId);

    public void Add(ClientConnection connection)
    {
        _live[connection.Id] = connection;
        Interlocked.Increment(ref _count);
    }

    public void Remove(ClientConnection connection)
    {
        if (!_live.TryRemove(connection.Id, out _))
        {
            return;
        }

        Interlocked.Decrement(ref _count);
        if (_live.IsEmpty)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>Completes when no connection is left (at once if none is).</summary>
    public Task WhenDrained()
    {
        if (_live.IsEmpty)
        {
            return Task.CompletedTask;
        }

        var signal = Volatile.Read(ref _drained);
        if (signal.Task.IsCompleted)
        {
            Interlocked.CompareExchange(ref _drained, NewDrainedSignal(), signal);
        }

        // A connection may have ended between the check and the swap.
        if (_live.IsEmpty)
        {
            return Task.CompletedTask;
        }

        return Volatile.Read(ref _drained).Task;
    }

    public void AbortAll()
    {
        foreach (var connection in _live.Values)
        {
            connection.Abort(ConnectionOutcome.Aborted);
        }
    }

    private static TaskCompletionSource NewDrainedSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
