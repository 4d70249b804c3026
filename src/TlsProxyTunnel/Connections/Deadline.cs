namespace TlsProxyTunnel.Connections;

/// <summary>
/// A timeout for one socket operation on the data path (client_hello_timeout, connect_timeout and its shares, a
/// via's handshake_timeout), on a <see cref="CancellationTokenSource"/> taken from a pool shared by all threads instead of a
/// new one with its own timer per use: a connection used three or four of them. The timeout fires exactly as a
/// <c>new CancellationTokenSource(timeout)</c> would (same timer queue, same precision).
/// </summary>
/// <remarks>
/// A source goes back to the pool only when its operation ended well before its deadline: once the timer is due
/// its callback may already be on its way, and <see cref="CancellationTokenSource.TryReset"/> cannot stop a callback
/// in flight, so a source reused then could cancel someone else's operation. Such a source is disposed instead.
/// Use only with operations that drop their registration when they complete (socket operations do), and end
/// each deadline exactly once.
/// </remarks>
internal readonly struct Deadline
{
    // Far more than the timer queue's clock can differ from the TickCount64 read here: a source ended closer to its
    // deadline than this may have its callback on the way, and is not reused.
    private const long ReuseMarginMs = 50;

    // One pool for the process, under a lock held for a few instructions: a deadline usually ends on another
    // thread than it started on (it starts where the connection was accepted and ends on the thread that completed
    // the operation, an engine loop's), so per-thread pools drained on one side and overflowed on the other, and
    // every connection made a new source, timer and registration (about 0.5 KB of garbage, measured).
    private const int Capacity = 1024;

    private static readonly Lock PoolLock = new();
    private static readonly CancellationTokenSource?[] Pool = new CancellationTokenSource?[Capacity];
    private static int _pooled;

    private readonly CancellationTokenSource _source;
    private readonly long _dueMs;

    private Deadline(CancellationTokenSource source, long dueMs)
    {
        _source = source;
        _dueMs = dueMs;
    }

    public CancellationToken Token => _source.Token;

    /// <summary>The timeout has passed (the operation was cancelled by it).</summary>
    public bool Expired => _source.IsCancellationRequested;

    public static Deadline Start(TimeSpan timeout)
    {
        CancellationTokenSource? source = null;
        lock (PoolLock)
        {
            if (_pooled > 0)
            {
                source = Pool[--_pooled];
                Pool[_pooled] = null;
            }
        }

        source ??= new CancellationTokenSource();
        source.CancelAfter(timeout);
        var ms = (long)Math.Ceiling(timeout.TotalMilliseconds);
        return new Deadline(source, Environment.TickCount64 + ms);
    }

    /// <summary>The operation is over: stop the timer and pool the source, or dispose it (see remarks).</summary>
    public void End()
    {
        if (_dueMs - Environment.TickCount64 > ReuseMarginMs && Volatile.Read(ref _pooled) < Capacity && _source.TryReset())
        {
            lock (PoolLock)
            {
                if (_pooled < Capacity)
                {
                    Pool[_pooled++] = _source;
                    return;
                }
            }
        }

        _source.Dispose();
    }
}
