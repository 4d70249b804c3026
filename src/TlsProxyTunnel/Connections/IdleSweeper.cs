namespace TlsProxyTunnel.Connections;

/// <summary>
/// <c>idle_timeout</c> for every connection on one timer, instead of a timer (and its state object) per connection:
/// each tick looks at the live connections (<see cref="ConnectionTracker"/>) that have an idle limit and cuts those
/// with no traffic either way for that long. The timer ticks at the shortest period any watched connection asks for
/// (a quarter of its idle_timeout, 20 ms to 1 s, as each connection's own timer did), so a connection is never cut
/// before its idle_timeout and at most one period after it; it stops while no connection is watched.
/// </summary>
internal sealed class IdleSweeper : IDisposable
{
    private readonly ConnectionTracker _tracker;
    private readonly Lock _lock = new();
    private readonly Timer _timer;
    private int _watched;

    // The period the timer runs at; int.MaxValue while stopped.
    private int _periodMs = int.MaxValue;

    public IdleSweeper(ConnectionTracker tracker)
    {
        _tracker = tracker;
        _timer = new Timer(static s => ((IdleSweeper)s!).Sweep(), this, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>The period a connection with this idle_timeout needs its idleness checked at.</summary>
    public static int PeriodFor(TimeSpan idle) => (int)Math.Clamp(idle.TotalMilliseconds / 4, 20, 1000);

    /// <summary>Starts watching <paramref name="connection"/>; every call is matched by one <see cref="Unwatch"/>.</summary>
    public void Watch(ClientConnection connection, TimeSpan idle)
    {
        connection.IdleLimitMs = Math.Max(1, (long)idle.TotalMilliseconds);

        // Interlocked is a full fence: either the check below sees the timer stopped, or a sweep deciding to stop
        // it sees this connection counted (it writes the period before it reads the count).
        Interlocked.Increment(ref _watched);
        var period = PeriodFor(idle);
        if (period >= Volatile.Read(ref _periodMs))
        {
            return;
        }

        lock (_lock)
        {
            if (period < _periodMs)
            {
                _periodMs = period;
                _timer.Change(period, period);
            }
        }
    }

    public void Unwatch(ClientConnection connection)
    {
        connection.IdleLimitMs = 0;
        Interlocked.Decrement(ref _watched);
    }

    public void Dispose() => _timer.Dispose();

    private const long CoarseClockTickMs = 10;

    private void Sweep()
    {
        if (Volatile.Read(ref _watched) == 0)
        {
            StopIfUnwatched();
            return;
        }

        var now = Environment.TickCount64;
        foreach (var connection in _tracker.Live)
        {
            // TickCount64 is the kernel's coarse clock (a tick of 1 to 10 ms): two readings 3 000 apart may be a
            // few ms less apart in time, and a connection must never be cut before its idle_timeout.
            var limit = connection.IdleLimitMs;
            if (limit > 0 && now - connection.Counters.LastActivityTicks >= limit + CoarseClockTickMs && !connection.IsAborted)
            {
                connection.Abort(ConnectionOutcome.IdleTimeout);
            }
        }
    }

    private void StopIfUnwatched()
    {
        lock (_lock)
        {
            var running = _periodMs;
            Volatile.Write(ref _periodMs, int.MaxValue);
            Interlocked.MemoryBarrier();
            if (Volatile.Read(ref _watched) != 0)
            {
                // A connection came meanwhile and saw the timer running: keep it running.
                _periodMs = running;
                return;
            }

            _timer.Change(Timeout.Infinite, Timeout.Infinite);
        }
    }
}
