using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>
/// A histogram family: the <see cref="Histogram{T}"/> instrument on the meter, and per label value a
/// <see cref="DurationHistogram"/> that keeps the cumulative buckets <c>/metrics</c> renders. Both see every
/// observation, with the same bucket bounds (given to the instrument as advice, so an exporter uses them too).
/// </summary>
internal sealed class HistogramFamily : MetricRegistry.Family
{
    private readonly ConcurrentDictionary<string, DurationHistogram> _series = new(StringComparer.Ordinal);
    private readonly string _label;
    private readonly double[] _bounds;
    private readonly string[] _le;
    private readonly Histogram<double> _instrument;

    public HistogramFamily(string name, string help, string label, double[] bounds, Histogram<double> instrument)
        : base(name, "histogram", help)
    {
        _label = label;
        _bounds = bounds;
        _le = [.. bounds.Select(b => b.ToString(CultureInfo.InvariantCulture)), "+Inf"];
        _instrument = instrument;
    }

    /// <summary>The series of one label value; callers keep it, so recording never looks it up.</summary>
    public DurationHistogram Series(string labelValue) =>
        _series.GetOrAdd(labelValue, static (v, f) => new DurationHistogram(f._bounds, f._instrument, new(f._label, v)), this);

    public override void WriteSamples(PrometheusTextWriter w)
    {
        foreach (var (value, series) in _series.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var counts = series.CumulativeCounts();
            for (var i = 0; i < counts.Length; i++)
            {
                w.Sample(Name + "_bucket", counts[i], (_label, value), ("le", _le[i]));
            }

            w.Sample(Name + "_sum", series.SumSeconds, (_label, value));
            w.Sample(Name + "_count", counts[^1], (_label, value));
        }
    }
}

/// <summary>One series of a <see cref="HistogramFamily"/>: cumulative buckets, lock-free, and the instrument with its tag bound.</summary>
internal sealed class DurationHistogram(double[] bounds, Histogram<double> instrument, KeyValuePair<string, object?> tag)
{
    private readonly long[] _counts = new long[bounds.Length + 1];
    private long _sumMicroseconds;

    public void Observe(double seconds)
    {
        var i = 0;
        while (i < bounds.Length && seconds > bounds[i])
        {
            i++;
        }

        Interlocked.Increment(ref _counts[i]);
        Interlocked.Add(ref _sumMicroseconds, (long)(seconds * 1_000_000));

        // One tag passed by value: the runtime reuses a per-thread array for it, so this does not allocate.
        instrument.Record(seconds, tag);
    }

    /// <summary>Cumulative counts per bucket, the last being +Inf.</summary>
    public long[] CumulativeCounts()
    {
        var result = new long[_counts.Length];
        long running = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            running += Interlocked.Read(ref _counts[i]);
            result[i] = running;
        }

        return result;
    }

    public double SumSeconds => Interlocked.Read(ref _sumMicroseconds) / 1_000_000.0;
}
