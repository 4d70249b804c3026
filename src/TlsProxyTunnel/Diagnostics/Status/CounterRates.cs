namespace TlsProxyTunnel.Diagnostics.Status;

/// <summary>
/// Rates of monotonic counters for the status page. A timer copies every counter into a small ring each
/// <see cref="SampleInterval"/>; a rate over a window is the counter's increase from the newest sample that is
/// at least that window old up to the value read now, divided by the time between the two. The window
/// actually used is therefore between the one asked for and one interval longer; until the process has run
/// for a whole window there is no such sample and the rate is unknown (null), never a guess.
/// </summary>
internal sealed class CounterRates : IDisposable
{
    public static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(5);

    /// <summary>The windows the page shows, shortest first.</summary>
    public static readonly TimeSpan[] Windows = [TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(1)];

    // Enough samples that the longest window always has one at least that old (plus the one being replaced).
    private static readonly int Capacity = (int)(Windows[^1] / SampleInterval) + 2;

    private readonly TimeProvider _time;
    private readonly Func<IEnumerable<KeyValuePair<string, long>>> _read;
    private readonly Sample?[] _ring = new Sample?[Capacity];
    private readonly Lock _gate = new();
    private readonly ITimer _timer;
    private int _next;

    /// <param name="read">Every counter to follow, by a key stable across calls; a key missing from a sample counts as 0 then.</param>
    public CounterRates(TimeProvider time, Func<IEnumerable<KeyValuePair<string, long>>> read)
    {
        _time = time;
        _read = read;
        _timer = time.CreateTimer(static s => ((CounterRates)s!).TakeSample(), this, TimeSpan.Zero, SampleInterval);
    }

    /// <summary>Counter increase per second over about <paramref name="window"/>; null while there is not that much history.</summary>
    public double? PerSecond(string key, long current, TimeSpan window)
    {
        var now = _time.GetUtcNow();
        Sample? best = null;
        lock (_gate)
        {
            foreach (var sample in _ring)
            {
                if (sample is not null && now - sample.At >= window && (best is null || sample.At > best.At))
                {
                    best = sample;
                }
            }
        }

        if (best is null)
        {
            return null;
        }

        var elapsed = (now - best.At).TotalSeconds;
        var before = best.Values.GetValueOrDefault(key);
        return Math.Max(0, current - before) / elapsed;
    }

    public void Dispose() => _timer.Dispose();

    internal void TakeSample()
    {
        var sample = new Sample(_time.GetUtcNow(), new Dictionary<string, long>(_read(), StringComparer.Ordinal));
        lock (_gate)
        {
            _ring[_next] = sample;
            _next = (_next + 1) % _ring.Length;
        }
    }

    private sealed record Sample(DateTimeOffset At, Dictionary<string, long> Values);
}
