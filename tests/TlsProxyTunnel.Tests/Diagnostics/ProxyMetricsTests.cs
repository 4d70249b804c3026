using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;

namespace TlsProxyTunnel.Tests.Diagnostics;

public sealed partial class ProxyMetricsTests
{
    [Fact]
    public void A_meter_listener_sees_every_family_with_the_values_metrics_shows()
    {
        var dns = new ResolverCounters();
        using var metrics = new ProxyMetrics(new DnsMetrics(dns), new ProcessMetrics(new MemoryTrimmer(new ConnectionTracker(), TimeProvider.System, NullLogger<MemoryTrimmer>.Instance)));
        using var listener = new RecordingListener(metrics.Meter);

        Exercise(metrics);
        dns.OnQuestion();
        dns.OnQuestion();
        dns.OnFailure();

        var seen = listener.Collect();
        var rendered = metrics.Render();

        // The same families, by name, on both sides, published on the meter named TlsProxyTunnel.
        var families = TypeLine().Matches(rendered).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(families.Order(StringComparer.Ordinal), listener.Instruments.Select(i => i.Name).Order(StringComparer.Ordinal));
        Assert.All(listener.Instruments, i => Assert.Equal("TlsProxyTunnel", i.Meter.Name));
        Assert.Contains("tpt_client_hello_duration_seconds", families);
        Assert.Contains("tpt_connection_duration_seconds", families);

        // Every sample of /metrics, the same series with the same value. Process and runtime (GC) series read the
        // OS or the runtime at each collection, so only their presence is compared.
        var samples = SampleLine().Matches(rendered).ToDictionary(m => m.Groups[1].Value, m => double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), StringComparer.Ordinal);
        var fromListener = seen.Observed.ToDictionary(m => m.Key, m => (double)m.Value, StringComparer.Ordinal);
        foreach (var (series, value) in samples.Where(s => !IsHistogramSample(s.Key)))
        {
            Assert.True(fromListener.TryGetValue(series, out var observed), $"the meter has no {series}");
            if (!series.StartsWith("process_", StringComparison.Ordinal) && !series.StartsWith("dotnet_", StringComparison.Ordinal))
            {
                Assert.Equal(value, observed);
            }
        }

        Assert.Equal(samples.Keys.Where(k => !IsHistogramSample(k)).Order(StringComparer.Ordinal), fromListener.Keys.Order(StringComparer.Ordinal));

        // Histograms: the listener saw each recorded value; its count, sum and buckets are what /metrics shows.
        foreach (var (name, bounds) in new[] { ("tpt_connection_duration_seconds", ProxyMetrics.ConnectionDurationBounds), ("tpt_client_hello_duration_seconds", ProxyMetrics.HelloDurationBounds) })
        {
            foreach (var server in new[] { "api", "web" })
            {
                var values = seen.Recorded.Where(r => r.Name == name && r.Server == server).Select(r => r.Value).ToList();
                Assert.Equal(values.Count, samples[$"{name}_count{{name=\"{server}\"}}"]);
                Assert.Equal(values.Sum(), samples[$"{name}_sum{{name=\"{server}\"}}"], 5);
                foreach (var le in bounds)
                {
                    var text = le.ToString(CultureInfo.InvariantCulture);
                    Assert.Equal(values.Count(v => v <= le), samples[$"{name}_bucket{{name=\"{server}\",le=\"{text}\"}}"]);
                }

                Assert.Equal(values.Count, samples[$"{name}_bucket{{name=\"{server}\",le=\"+Inf\"}}"]);
            }
        }

        Assert.Equal(3, seen.Recorded.Count(r => r.Name == "tpt_connection_duration_seconds" && r.Server == "web"));
        Assert.Equal(2, seen.Recorded.Count(r => r.Name == "tpt_client_hello_duration_seconds" && r.Server == "web"));
        Assert.Equal(2, samples["tpt_dns_lookups_total"]);
    }

    [Fact]
    public void A_hello_that_was_not_read_adds_no_hello_duration()
    {
        using var metrics = new ProxyMetrics();
        var server = metrics.Server("plain");

        server.OnHelloOutcome(HelloReadOutcome.NotRead, TimeSpan.FromSeconds(1));
        server.OnHelloOutcome(HelloReadOutcome.Sni, TimeSpan.FromMilliseconds(3));

        Assert.Equal(1, server.HelloDurations.CumulativeCounts()[^1]);
        Assert.Equal(0.003, server.HelloDurations.SumSeconds, 6);
        Assert.Equal(1, server.HelloOutcomeCount(HelloReadOutcome.NotRead));
    }

    [Fact]
    public void Recording_a_connection_allocates_nothing_while_a_listener_is_attached()
    {
        using var metrics = new ProxyMetrics();
        using var listener = new RecordingListener(metrics.Meter, keep: false);
        var server = metrics.Server("web");
        var listen = metrics.Listener("web", "127.0.0.1:443", 100);
        var route = metrics.Route("web", "*.example.com", "backend");
        var upstream = metrics.Upstream("backend");
        metrics.OnConnectStatus(200);

        void OneConnection()
        {
            listen.Enter();
            server.OnAccepted();
            server.OnHelloOutcome(HelloReadOutcome.Sni, TimeSpan.FromMilliseconds(2));
            route.OnTaken();
            upstream.OnConnectFailed();
            metrics.OnConnectStatus(200);
            server.OnClosed(ConnectionOutcome.Completed, 517, 4096, TimeSpan.FromSeconds(1.5));
            listen.Leave();
        }

        OneConnection();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            OneConnection();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(2 * 1001, listener.RecordedCount);
    }

    [Fact]
    public void A_source_cannot_add_a_family_after_the_metrics_are_built()
    {
        var late = new LateSource();
        using var metrics = new ProxyMetrics(late);

        Assert.Throws<InvalidOperationException>(() => late.Registry!.Counter("tpt_late_total", "late", _ => { }));
        Assert.DoesNotContain("tpt_late_total", metrics.Render(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_family_declared_twice_is_refused()
    {
        Assert.Throws<InvalidOperationException>(() => new ProxyMetrics(new DuplicateSource()));
    }

    private static void Exercise(ProxyMetrics metrics)
    {
        metrics.ConfigGeneration = 3;
        var web = metrics.Server("web");
        var api = metrics.Server("api");
        var listen = metrics.Listener("web", "127.0.0.1:443", 10);
        metrics.Listener("api", "127.0.0.1:8443", 5);
        listen.Enter();
        web.OnAccepted();
        web.OnAccepted();
        web.OnRejected();
        web.OnHelloOutcome(HelloReadOutcome.Sni, TimeSpan.FromMilliseconds(4));
        web.OnHelloOutcome(HelloReadOutcome.Silent, TimeSpan.FromSeconds(12));
        web.OnClosed(ConnectionOutcome.Completed, 100, 2000, TimeSpan.FromSeconds(0.2));
        web.OnClosed(ConnectionOutcome.Completed, 1, 2, TimeSpan.FromSeconds(0.005));
        web.OnClosed(ConnectionOutcome.Completed, 3, 4, TimeSpan.FromSeconds(7200));
        api.OnHelloOutcome(HelloReadOutcome.NotRead, TimeSpan.FromSeconds(1));
        api.OnClosed(ConnectionOutcome.UpstreamUnreachable, 0, 0, TimeSpan.FromSeconds(2));
        metrics.Route("web", "*.example.com", "backend").OnTaken();
        metrics.Route("web", "default", "fallback");
        metrics.Upstream("backend").OnConnectFailed();
        metrics.Upstream("fallback");
        metrics.OnConnectStatus(200);
        metrics.OnConnectStatus(407);
        metrics.OnConnectStatus(200);
        metrics.OnConnectFailure("timeout");
        metrics.OnReload(true);
        metrics.OnReload(false);
    }

    private static bool IsHistogramSample(string series) =>
        series.StartsWith("tpt_connection_duration_seconds_", StringComparison.Ordinal) || series.StartsWith("tpt_client_hello_duration_seconds_", StringComparison.Ordinal);

    [GeneratedRegex(@"^# TYPE (\S+) \S+$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"^([^#\s]\S*) (\S+)$", RegexOptions.Multiline)]
    private static partial Regex SampleLine();

    private sealed class LateSource : IMetricSource
    {
        public MetricRegistry? Registry { get; private set; }

        public void Declare(MetricRegistry registry) => Registry = registry;
    }

    private sealed class DuplicateSource : IMetricSource
    {
        public void Declare(MetricRegistry registry) => registry.Counter("tpt_connections_accepted_total", "again", _ => { });
    }

    /// <summary>A MeterListener over one ProxyMetrics' meter (others run in parallel tests under the same meter name).</summary>
    private sealed class RecordingListener : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly List<(string Name, string Server, double Value)> _recorded = [];
        private readonly List<KeyValuePair<string, long>> _observed = [];
        private readonly bool _keep;
        private long _recordedCount;

        public RecordingListener(Meter meter, bool keep = true)
        {
            _keep = keep;
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter, meter))
                {
                    Instruments.Add(instrument);
                    l.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<double>(OnDouble);
            _listener.SetMeasurementEventCallback<long>(OnLong);
            _listener.Start();
        }

        public List<Instrument> Instruments { get; } = [];

        public long RecordedCount => Interlocked.Read(ref _recordedCount);

        public (List<(string Name, string Server, double Value)> Recorded, List<KeyValuePair<string, long>> Observed) Collect()
        {
            _observed.Clear();
            _listener.RecordObservableInstruments();
            return (_recorded, _observed);
        }

        public void Dispose() => _listener.Dispose();

        private void OnDouble(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        {
            Interlocked.Increment(ref _recordedCount);
            if (_keep)
            {
                lock (_recorded)
                {
                    _recorded.Add((instrument.Name, (string)tags[0].Value!, value));
                }
            }
        }

        private void OnLong(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        {
            var series = tags.Length == 0
                ? instrument.Name
                : instrument.Name + "{" + string.Join(",", tags.ToArray().Select(t => $"{t.Key}=\"{t.Value}\"")) + "}";
            _observed.Add(KeyValuePair.Create(series, value));
        }
    }
}
