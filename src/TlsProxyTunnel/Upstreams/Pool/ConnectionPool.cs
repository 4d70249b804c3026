using System.Buffers;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Upstreams.Pool;

internal enum PoolTakeStatus
{
    /// <summary>An idle connection was there.</summary>
    Hit,

    /// <summary>None was idle; the client waited and got the next one made.</summary>
    Waited,

    /// <summary>None came within wait_timeout.</summary>
    TimedOut,

    /// <summary>None was idle and max_waiters clients were already waiting.</summary>
    Full,

    /// <summary>The pool was closed (replaced by a reload, or tpt is stopping).</summary>
    Closed,
}

internal readonly record struct PoolTake(PoolTakeStatus Status, PooledConnection? Connection);

/// <summary>
/// ptw's pool for one upstream (and via): <c>size</c> slots, each building one connection, parking it, and building
/// the next as soon as it is taken, expires (ttl) or breaks (after backoff, as after a failed attempt). A client
/// takes the oldest idle connection; when there is none it waits (first in, first out, at most max_waiters, for at
/// most wait_timeout) and gets the next connection any slot completes.
/// </summary>
/// <remarks>
/// Every change of the idle list and the waiter queue happens under one lock, so a connection is either idle,
/// being looked at by its watch, or handed out, never two of these. Timers come from <see cref="TimeProvider"/>.
/// </remarks>
internal sealed class ConnectionPool : IAsyncDisposable
{
    // Reads what an idle server sent (to drop or keep it); rented only for that moment.
    private const int ReadChunk = 16 * 1024;

    private readonly PoolSettings _settings;
    private readonly IPoolDialer _dialer;
    private readonly PoolMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly Lock _lock = new();
    private readonly LinkedList<PooledConnection> _idle = new();
    private readonly LinkedList<TaskCompletionSource<PooledConnection?>> _waiters = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _slots;
    private bool _closed;

    // A ServeWaitersFromIdleAsync loop is running (guarded by _lock).
    private bool _servingFromIdle;
    private bool _warm;
    private int _failing;

    public ConnectionPool(string name, PoolSettings settings, IPoolDialer dialer, PoolMetrics metrics, TimeProvider time, ILogger logger)
    {
        _name = name;
        _settings = settings;
        _dialer = dialer;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _slots = new Task[settings.Size];
    }

    public PoolSettings Settings => _settings;

    /// <summary>Raised (under the pool's lock: keep handlers short) whenever a connection is parked or leaves the idle list; for tests to wait on.</summary>
    internal event Action? IdleChanged;

    /// <summary>How many times a connection was parked (a re-park after the idle watch counts again).</summary>
    internal long Parks { get; private set; }

    /// <summary>Idle connections now (for tests and the status page).</summary>
    public int IdleCount
    {
        get
        {
            lock (_lock)
            {
                return _idle.Count;
            }
        }
    }

    public bool IsClosed
    {
        get
        {
            lock (_lock)
            {
                return _closed;
            }
        }
    }

    /// <summary>Starts every slot: the warm-up.</summary>
    public void Start()
    {
        _metrics.AddSize(_settings.Size);
        for (var i = 0; i < _slots.Length; i++)
        {
            _slots[i] = Task.Run(RunSlotAsync);
        }
    }

    public ValueTask<PoolTake> TakeAsync()
    {
        TaskCompletionSource<PooledConnection?> waiter;
        var skippedUnread = false;
        lock (_lock)
        {
            if (_closed)
            {
                return ValueTask.FromResult(new PoolTake(PoolTakeStatus.Closed, null));
            }

            if (TakeIdle(ref skippedUnread) is { } connection)
            {
                _metrics.OnHit();
                return ValueTask.FromResult(new PoolTake(PoolTakeStatus.Hit, connection));
            }

            _metrics.OnMiss();
            if (_waiters.Count >= _settings.MaxWaiters)
            {
                return ValueTask.FromResult(new PoolTake(PoolTakeStatus.Full, null));
            }

            waiter = new TaskCompletionSource<PooledConnection?>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.AddLast(waiter);
            _metrics.AddWaiters(1);
            _metrics.OnWait();
        }

        if (skippedUnread)
        {
            StartServingWaitersFromIdle();
        }

        return WaitAsync(waiter);
    }

    /// <summary>
    /// Under <see cref="_lock"/>: takes the first idle connection fit to hand out off the idle list (its watch ended
    /// as taken), or null. One whose watch has fired, or with bytes (data, a ticket, a FIN) not yet read, is passed
    /// over: its watch decides, not us; <paramref name="skippedUnread"/> says whether the latter happened.
    /// </summary>
    private PooledConnection? TakeIdle(ref bool skippedUnread)
    {
        for (var node = _idle.First; node is not null; node = node.Next)
        {
            var connection = node.Value;
            if (connection.PendingRead is { IsCompleted: true })
            {
                continue;
            }

            if (HasUnread(connection.Socket))
            {
                skippedUnread = true;
                continue;
            }

            Unpark(connection);
            HandOut(connection);
            connection.End!.TrySetResult(ParkEnd.Taken);
            return connection;
        }

        return null;
    }

    private void StartServingWaitersFromIdle()
    {
        lock (_lock)
        {
            if (_servingFromIdle)
            {
                return;
            }

            _servingFromIdle = true;
        }

        _ = ServeWaitersFromIdleAsync();
    }

    /// <summary>
    /// A connection was passed over because bytes were waiting on it. If they are data or a FIN its watch fires and
    /// decides; but a TLS 1.3 session ticket is consumed by the watch's read without completing it, and nothing
    /// else would then hand the connection to the waiter (seen: a client waited out wait_timeout beside a ready
    /// connection). So the idle list is looked at again, every 10 ms, while anyone waits.
    /// </summary>
    /// <remarks>One at a time (<see cref="_servingFromIdle"/>), however many takes passed a connection over.</remarks>
    private async Task ServeWaitersFromIdleAsync()
    {
        while (true)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(10), _time, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                lock (_lock)
                {
                    _servingFromIdle = false;
                }

                return;
            }

            lock (_lock)
            {
                var skipped = false;
                while (!_closed && _waiters.First is { } first && TakeIdle(ref skipped) is { } connection)
                {
                    RemoveWaiter(first.Value);
                    first.Value.TrySetResult(connection);
                }

                if (_closed || _waiters.Count == 0)
                {
                    _servingFromIdle = false;
                    return;
                }
            }
        }
    }

    /// <summary>Waiters currently queued.</summary>
    public int WaiterCount
    {
        get
        {
            lock (_lock)
            {
                return _waiters.Count;
            }
        }
    }

    private async ValueTask<PoolTake> WaitAsync(TaskCompletionSource<PooledConnection?> waiter)
    {
        using var expiry = _time.CreateTimer(
            static s =>
            {
                var (pool, w) = ((ConnectionPool, TaskCompletionSource<PooledConnection?>))s!;
                pool.Abandon(w);
            },
            (this, waiter),
            _settings.WaitTimeout,
            Timeout.InfiniteTimeSpan);
        var connection = await waiter.Task;
        if (connection is not null)
        {
            return new PoolTake(PoolTakeStatus.Waited, connection);
        }

        if (IsClosed)
        {
            return new PoolTake(PoolTakeStatus.Closed, null);
        }

        _metrics.OnWaitTimeout();
        return new PoolTake(PoolTakeStatus.TimedOut, null);
    }

    private void Abandon(TaskCompletionSource<PooledConnection?> waiter)
    {
        lock (_lock)
        {
            if (RemoveWaiter(waiter))
            {
                waiter.TrySetResult(null);
            }
        }
    }

    private bool RemoveWaiter(TaskCompletionSource<PooledConnection?> waiter)
    {
        if (!_waiters.Remove(waiter))
        {
            return false;
        }

        _metrics.AddWaiters(-1);
        return true;
    }

    private async Task RunSlotAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            PoolDial dial;
            try
            {
                dial = await _dialer.DialAsync(_stop.Token);
            }
            catch (Exception e)
            {
                // Whatever went wrong, the slot must live on: a slot that died would shrink the pool for good.
                dial = new PoolDial(null, e.Message);
            }

            if (dial.Connection is not { } connection)
            {
                if (_stop.IsCancellationRequested)
                {
                    return;
                }

                _metrics.OnHandshakeFailure();
                if (Interlocked.Exchange(ref _failing, 1) == 0)
                {
                    Log.PoolDialFailed(_logger, _name, dial.Error ?? "unknown error", (long)_settings.Backoff.TotalMilliseconds);
                }
                else
                {
                    Log.PoolDialFailedAgain(_logger, _name, dial.Error ?? "unknown error");
                }

                if (!await BackOffAsync())
                {
                    return;
                }

                continue;
            }

            Interlocked.Exchange(ref _failing, 0);
            if (_settings.ServerFirst == ServerFirstMode.Discard)
            {
                connection.DropKept();
            }

            var end = await Offer(connection);
            if (end == ParkEnd.Taken)
            {
                continue;
            }

            Log.PoolIdleEvent(_logger, _name, connection.RemoteEndPoint.ToString() ?? "-", end switch
            {
                ParkEnd.Expired => "reached its ttl; replacing it",
                ParkEnd.Broken => "was closed by its server; replacing it after backoff",
                _ => "was closed with the pool",
            });
            connection.Dispose();
            if (end == ParkEnd.Closed || (end == ParkEnd.Broken && !await BackOffAsync()))
            {
                return;
            }
        }
    }

    private async ValueTask<bool> BackOffAsync()
    {
        try
        {
            await Task.Delay(_settings.Backoff, _time, _stop.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Gives a new (or just checked) connection to the oldest live waiter, else parks it; completes when it leaves the idle list.</summary>
    private Task<ParkEnd> Offer(PooledConnection connection)
    {
        var end = new TaskCompletionSource<ParkEnd>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.End = end;
        var warmed = false;
        lock (_lock)
        {
            if (_closed)
            {
                return Task.FromResult(ParkEnd.Closed);
            }

            while (_waiters.First is { } first)
            {
                RemoveWaiter(first.Value);
                if (first.Value.TrySetResult(connection))
                {
                    return Task.FromResult(ParkEnd.Taken);
                }
            }

            Park(connection);
            if (!_warm && _idle.Count == _settings.Size)
            {
                _warm = warmed = true;
            }
        }

        if (warmed)
        {
            Log.PoolReady(_logger, _name, _settings.Size, _settings.Size);
        }

        return end.Task;
    }

    private void Park(PooledConnection connection)
    {
        connection.Node = _idle.AddLast(connection);
        _metrics.AddIdle(1);
        Parks++;
        // ttl counts from the first parking: a connection that only came back from its watch keeps its age.
        connection.Expiry ??= _time.CreateTimer(
            static s =>
            {
                var (pool, c) = ((ConnectionPool, PooledConnection))s!;
                pool.Expire(c);
            },
            (this, connection),
            _settings.Ttl,
            Timeout.InfiniteTimeSpan);
        Watch(connection);
        IdleChanged?.Invoke();
    }

    /// <summary>The client owns the connection from here: its ttl no longer applies.</summary>
    private static void HandOut(PooledConnection connection)
    {
        connection.Expiry?.Dispose();
        connection.Expiry = null;
    }

    private void Unpark(PooledConnection connection)
    {
        _idle.Remove(connection.Node!);
        connection.Node = null;
        _metrics.AddIdle(-1);
        IdleChanged?.Invoke();
    }

    private void Expire(PooledConnection connection)
    {
        lock (_lock)
        {
            if (connection.Node is null)
            {
                // Out with its watch: that decides once it is done. Taken: no longer ours.
                connection.ExpiredWhileOut = true;
                return;
            }

            Unpark(connection);
        }

        connection.End!.TrySetResult(ParkEnd.Expired);
    }

    /// <summary>A zero-byte read: no buffer while idle; completes on application data, EOF or an error (not on a session ticket).</summary>
    private void Watch(PooledConnection connection)
    {
        var read = connection.Tls is { } tls
            ? connection.Gate!.ReadAsync(tls, Memory<byte>.Empty)
            : connection.Socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
        connection.PendingRead = read.AsTask();
        _ = connection.PendingRead.ContinueWith(
            static (read, s) =>
            {
                // Observed here: a read still pending when a taken plain connection closes ends in an exception nobody awaits.
                _ = read.Exception;
                var (pool, c) = ((ConnectionPool, PooledConnection))s!;
                _ = pool.OnWatchFiredAsync(c);
            },
            (this, connection),
            CancellationToken.None,
            // Never inline: Watch runs under the pool's lock, and a read that completed at once would re-enter it.
            TaskContinuationOptions.RunContinuationsAsynchronously,
            TaskScheduler.Default);
    }

    private async Task OnWatchFiredAsync(PooledConnection connection)
    {
        lock (_lock)
        {
            // Taken meanwhile: the client's first read inherits this one. Expired or closed: its slot disposes it.
            if (connection.Node is null)
            {
                return;
            }

            Unpark(connection);
        }

        var end = await CheckIdleAsync(connection);
        if (end is { } gone)
        {
            connection.End!.TrySetResult(gone);
            return;
        }

        // Still good: back to the waiters or the idle list, under the slot's same End.
        lock (_lock)
        {
            if (_closed)
            {
                gone = ParkEnd.Closed;
            }
            else if (connection.ExpiredWhileOut)
            {
                gone = ParkEnd.Expired;
            }
            else if (_waiters.First is { } first)
            {
                RemoveWaiter(first.Value);
                HandOut(connection);
                first.Value.TrySetResult(connection);
                gone = ParkEnd.Taken;
            }
            else
            {
                Park(connection);
                return;
            }
        }

        connection.End!.TrySetResult(gone);
    }

    /// <summary>Reads what woke the watch: null when the connection is still good (bytes dropped or kept), else how it ended.</summary>
    private async ValueTask<ParkEnd?> CheckIdleAsync(PooledConnection connection)
    {
        if (!connection.PendingRead!.IsCompletedSuccessfully)
        {
            return ParkEnd.Broken;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(ReadChunk);
        try
        {
            // The watch completed, so data (already decrypted, for TLS) or the end is there: this read does not wait.
            var n = connection.Tls is { } tls
                ? await connection.Gate!.ReadAsync(tls, buffer)
                : await connection.Socket.ReceiveAsync(buffer, SocketFlags.None);
            if (n == 0)
            {
                return ParkEnd.Broken;
            }

            if (_settings.ServerFirst == ServerFirstMode.Discard)
            {
                Log.PoolIdleEvent(_logger, _name, connection.RemoteEndPoint.ToString() ?? "-", $"received {n} bytes before use; discarded (server_first: discard)");
                return null;
            }

            if (!connection.Keep(buffer.AsSpan(0, n)))
            {
                return ParkEnd.Broken;
            }

            Log.PoolIdleEvent(_logger, _name, connection.RemoteEndPoint.ToString() ?? "-", $"received {n} bytes before use; kept for its client (server_first: keep)");
            return null;
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
        {
            return ParkEnd.Broken;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static bool HasUnread(Socket socket)
    {
        try
        {
            return socket.Poll(0, SelectMode.SelectRead);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return true;
        }
    }

    /// <summary>Closes the pool: slots stop, idle connections close, waiting clients are let go.</summary>
    public async ValueTask DisposeAsync()
    {
        PooledConnection[] idle;
        TaskCompletionSource<PooledConnection?>[] waiters;
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            idle = [.. _idle];
            foreach (var connection in idle)
            {
                Unpark(connection);
            }

            waiters = [.. _waiters];
            foreach (var waiter in waiters)
            {
                RemoveWaiter(waiter);
            }
        }

        _stop.Cancel();
        foreach (var connection in idle)
        {
            connection.End!.TrySetResult(ParkEnd.Closed);
        }

        foreach (var waiter in waiters)
        {
            waiter.TrySetResult(null);
        }

        _metrics.AddSize(-_settings.Size);
        Log.PoolClosed(_logger, _name, "replaced or stopping", idle.Length);

        // A slot in the middle of a connect (which has its own timeout) finishes it and then sees the pool closed.
        await Task.WhenAll(_slots.Where(s => s is not null)).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }
}
