using System.Diagnostics.Metrics;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>Receives the samples of one family as it is collected, each with its labels.</summary>
internal abstract class SampleSink
{
    public abstract void Add(long value, params ReadOnlySpan<(string Name, string Value)> labels);
}

/// <summary>A part of the process that publishes its own families (DNS, process); handed to <see cref="ProxyMetrics"/> when it is built.</summary>
internal interface IMetricSource
{
    /// <summary>Declares the source's families. Called once, from the constructor of <see cref="ProxyMetrics"/>.</summary>
    void Declare(MetricRegistry registry);
}

/// <summary>
/// The families of the process, in one list that feeds both outputs: each is an instrument on the
/// <see cref="Meter"/> named <c>TlsProxyTunnel</c> (what <c>dotnet-counters</c> and an OpenTelemetry exporter read)
/// and a block of <c>/metrics</c> rendered from the same instrument's callback, so the two cannot disagree.
/// Families are declared while <see cref="ProxyMetrics"/> is built and the list is sealed after: rendering reads
/// it without a lock.
/// </summary>
/// <remarks>
/// Counters and gauges are observable instruments over the lock-free counters the data path increments: the
/// hot path stays one <c>Interlocked</c> operation with no tags to box, and a series exists at 0 before its first
/// increase (which <c>rate()</c> needs). Only histograms record on the hot path, through one pre-bound tag.
/// </remarks>
internal sealed class MetricRegistry : IDisposable
{
    public const string MeterName = "TlsProxyTunnel";

    private readonly List<Family> _families = [];
    private bool _sealed;

    public Meter Meter { get; } = new(MeterName);

    public void Counter(string name, string help, Action<SampleSink> collect) =>
        Add(new ObservedFamily(name, "counter", help, collect), family => Meter.CreateObservableCounter(name, family.Measure, unit: null, description: help));

    public void Gauge(string name, string help, Action<SampleSink> collect) =>
        Add(new ObservedFamily(name, "gauge", help, collect), family => Meter.CreateObservableGauge(name, family.Measure, unit: null, description: help));

    /// <summary>A histogram of durations in seconds, one series per value of <paramref name="label"/>.</summary>
    public HistogramFamily Histogram(string name, string help, string label, double[] bounds)
    {
        var instrument = Meter.CreateHistogram(name, "s", help, tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = bounds });
        var family = new HistogramFamily(name, help, label, bounds, instrument);
        Add(family, static _ => { });
        return family;
    }

    /// <summary>Ends declaration: a family added later would be rendered while another thread reads the list.</summary>
    public void Seal() => _sealed = true;

    public string Render()
    {
        var w = new PrometheusTextWriter();
        foreach (var family in _families)
        {
            w.Family(family.Name, family.Type, family.Help);
            family.WriteSamples(w);
        }

        return w.ToString();
    }

    public void Dispose() => Meter.Dispose();

    private void Add<T>(T family, Action<T> publish)
        where T : Family
    {
        if (_sealed)
        {
            throw new InvalidOperationException($"The metric family {family.Name} was declared after the registry was sealed.");
        }

        if (_families.Exists(f => f.Name == family.Name))
        {
            throw new InvalidOperationException($"The metric family {family.Name} is declared twice.");
        }

        _families.Add(family);
        publish(family);
    }

    internal abstract class Family(string name, string type, string help)
    {
        public string Name { get; } = name;

        public string Type { get; } = type;

        public string Help { get; } = help;

        public abstract void WriteSamples(PrometheusTextWriter w);
    }

    private sealed class ObservedFamily(string name, string type, string help, Action<SampleSink> collect) : Family(name, type, help)
    {
        public override void WriteSamples(PrometheusTextWriter w) => collect(new PrometheusSink(w, Name));

        public List<Measurement<long>> Measure()
        {
            var sink = new MeasurementSink();
            collect(sink);
            return sink.Measurements;
        }
    }

    private sealed class PrometheusSink(PrometheusTextWriter w, string name) : SampleSink
    {
        public override void Add(long value, params ReadOnlySpan<(string Name, string Value)> labels) => w.Sample(name, value, labels);
    }

    private sealed class MeasurementSink : SampleSink
    {
        public List<Measurement<long>> Measurements { get; } = [];

        public override void Add(long value, params ReadOnlySpan<(string Name, string Value)> labels)
        {
            var tags = new KeyValuePair<string, object?>[labels.Length];
            for (var i = 0; i < labels.Length; i++)
            {
                tags[i] = new(labels[i].Name, labels[i].Value);
            }

            Measurements.Add(new Measurement<long>(value, tags));
        }
    }
}
