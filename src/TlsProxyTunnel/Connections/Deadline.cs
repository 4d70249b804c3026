namespace TlsProxyTunnel.Connections;

/// <summary>
/// A timeout for one socket operation on the data path (client_hello_timeout, connect_timeout and its shares, a
/// via's handshake_timeout), on a <see cref="CancellationTokenSource"/> taken from a small per-thread pool instead of a
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

    // Per thread, no lock: a deadline often ends on another thread than it started on, so each thread keeps a few
    // and makes new ones when it has none; past that a source is disposed, as every one was before.
    private const int PerThread = 8;

    [ThreadStatic]
    private static CancellationTokenSource?[]? t_pool;

    [ThreadStatic]
    private static int t_pooled;

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
        if (t_pooled > 0)
        {
            source = t_pool![--t_pooled];
            t_pool[t_pooled] = null;
        }

        source ??= new CancellationTokenSource();
        source.CancelAfter(timeout);
        var ms = (long)Math.Ceiling(timeout.TotalMilliseconds);
        return new Deadline(source, Environment.TickCount64 + ms);
    }

    /// <summary>The operation is over: stop the timer and pool the source, or dispose it (see remarks).</summary>
    public void End()
    {
        if (_dueMs - Environment.TickCount64 > ReuseMarginMs && t_pooled < PerThread && _source.TryReset())
        {
            (t_pool ??= new CancellationTokenSource?[PerThread])[t_pooled++] = _source;
            return;
        }

        _source.Dispose();
    }
}
