using System.Collections.Concurrent;
using TlsProxyTunnel.Connections;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>Counters of one server; updated with Interlocked on the hot path, read by /metrics and the meter's callbacks.</summary>
internal sealed class ServerMetrics(string name, DurationHistogram durations, DurationHistogram helloDurations)
{
    private readonly long[] _helloOutcomes = new long[Enum.GetValues<HelloReadOutcome>().Length];
    private readonly long[] _outcomes = new long[Enum.GetValues<ConnectionOutcome>().Length];
    private long _accepted;
    private long _rejected;
    private long _closed;
    private long _errored;
    private long _bytesFromClients;
    private long _bytesToClients;

    public string Name { get; } = name;

    public long Accepted => Interlocked.Read(ref _accepted);

    public long Rejected => Interlocked.Read(ref _rejected);

    public long Closed => Interlocked.Read(ref _closed);

    public long Errored => Interlocked.Read(ref _errored);

    public long BytesFromClients => Interlocked.Read(ref _bytesFromClients);

    public long BytesToClients => Interlocked.Read(ref _bytesToClients);

    public DurationHistogram Durations { get; } = durations;

    /// <summary>From accept until the ClientHello was read or given up on; only servers with <c>tls: true</c> read one.</summary>
    public DurationHistogram HelloDurations { get; } = helloDurations;

    public void OnAccepted() => Interlocked.Increment(ref _accepted);

    public void OnRejected() => Interlocked.Increment(ref _rejected);

    public void OnHelloOutcome(HelloReadOutcome outcome, TimeSpan sinceAccept)
    {
        Interlocked.Increment(ref _helloOutcomes[(int)outcome]);
        if (outcome != HelloReadOutcome.NotRead)
        {
            HelloDurations.Observe(sinceAccept.TotalSeconds);
        }
    }

    public long HelloOutcomeCount(HelloReadOutcome outcome) => Interlocked.Read(ref _helloOutcomes[(int)outcome]);

    public long OutcomeCount(ConnectionOutcome outcome) => Interlocked.Read(ref _outcomes[(int)outcome]);

    public void OnClosed(ConnectionOutcome outcome, long fromClient, long toClient, TimeSpan duration)
    {
        Interlocked.Increment(ref _outcomes[(int)outcome]);
        Interlocked.Increment(ref ConnectionOutcomes.IsError(outcome) ? ref _errored : ref _closed);
        Interlocked.Add(ref _bytesFromClients, fromClient);
        Interlocked.Add(ref _bytesToClients, toClient);
        Durations.Observe(duration.TotalSeconds);
    }
}

/// <summary>The connections one listen address holds right now.</summary>
internal sealed class ListenerMetrics(string server, string listen, int maxClients)
{
    private long _active;
    private volatile int _maxClients = maxClients;

    public string Server { get; } = server;

    public string Listen { get; } = listen;

    /// <summary>The server's limit; a reload may change it while connections are counted here.</summary>
    public int MaxClients
    {
        get => _maxClients;
        set => _maxClients = value;
    }

    public long Active => Interlocked.Read(ref _active);

    public void Enter() => Interlocked.Increment(ref _active);

    public void Leave() => Interlocked.Decrement(ref _active);
}

/// <summary>How often one configured route was taken. One per route, so cardinality is bounded by the config.</summary>
internal sealed class RouteMetrics(string server, string route, string upstream)
{
    private long _taken;

    public string Server { get; } = server;

    public string Route { get; } = route;

    public string Upstream { get; } = upstream;

    public long Taken => Interlocked.Read(ref _taken);

    public void OnTaken() => Interlocked.Increment(ref _taken);
}

/// <summary>Failures of one configured upstream. One per upstream name, so cardinality is bounded by the config.</summary>
internal sealed class UpstreamMetrics(string name)
{
    private long _connectFailures;

    public string Name { get; } = name;

    public long ConnectFailures => Interlocked.Read(ref _connectFailures);

    public void OnConnectFailed() => Interlocked.Increment(ref _connectFailures);
}

/// <summary>When the latest reload was attempted and whether it put a new generation in use.</summary>
internal sealed record ReloadRecord(DateTimeOffset At, bool Succeeded);

/// <summary>
/// Every metric of the process. Metrics outlive a configuration generation, so a reload keeps counting.
/// The data path increments lock-free counters; <see cref="MetricRegistry"/> publishes them on the meter and
/// renders them for <c>/metrics</c> from the same callbacks. Other parts of the process contribute families as
/// <see cref="IMetricSource"/>s given here, at construction; nothing can add one later.
/// </summary>
internal sealed class ProxyMetrics : IDisposable
{
    /// <summary>Connection durations: 5 ms to 1 h.</summary>
    public static readonly double[] ConnectionDurationBounds = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600];

    /// <summary>ClientHello reads: 1 ms to 30 s (client_hello_timeout ends the slow ones).</summary>
    public static readonly double[] HelloDurationBounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly ConcurrentDictionary<string, ServerMetrics> _servers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Server, string Listen), ListenerMetrics> _listeners = new();
    private readonly ConcurrentDictionary<(string Server, string Route), RouteMetrics> _routes = new();
    private readonly ConcurrentDictionary<string, UpstreamMetrics> _upstreams = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<int, long> _connectStatuses = new();
    private readonly ConcurrentDictionary<string, long> _connectFailures = new(StringComparer.Ordinal);
    private readonly MetricRegistry _registry;
    private readonly HistogramFamily _connectionDurations;
    private readonly HistogramFamily _helloDurations;
    private volatile ReloadRecord? _lastReload;
    private long _reloadsSucceeded;
    private long _reloadsFailed;
    private volatile bool _lastReloadSucceeded = true;

    public ProxyMetrics(params IMetricSource[] sources)
    {
        _registry = new MetricRegistry();
        var r = _registry;

        r.Gauge("tpt_active_connections", "Current number of active connections", sink =>
        {
            foreach (var l in SortedListeners())
            {
                sink.Add(l.Active, ("name", l.Server), ("listen", l.Listen));
            }
        });
        r.Gauge("tpt_maxclients", "Maximum number of concurrent connections of the server", sink =>
        {
            foreach (var l in SortedListeners())
            {
                sink.Add(l.MaxClients, ("name", l.Server), ("listen", l.Listen));
            }
        });

        PerServer(r, "tpt_connections_accepted_total", "Connections accepted", s => s.Accepted);
        PerServer(r, "tpt_connections_rejected_total", "Connections refused because the server was at maxclients or the process near its descriptor limit", s => s.Rejected);
        PerServer(r, "tpt_connections_closed_total", "Connections that ended without error", s => s.Closed);
        PerServer(r, "tpt_connections_errored_total", "Connections that ended with an error", s => s.Errored);
        PerServer(r, "tpt_received_bytes_total", "Bytes received from clients", s => s.BytesFromClients);
        PerServer(r, "tpt_sent_bytes_total", "Bytes sent to clients", s => s.BytesToClients);

        // Every outcome of every server, zeros included: a series that first appears at 1 hides that increase
        // from rate() and increase(), which is all the dashboard and alerts look at.
        r.Counter("tpt_connection_outcomes_total", "Connections by how they ended (the access log's outcome)", sink =>
        {
            foreach (var s in SortedServers())
            {
                foreach (var outcome in Enum.GetValues<ConnectionOutcome>())
                {
                    sink.Add(s.OutcomeCount(outcome), ("name", s.Name), ("outcome", ConnectionOutcomes.Label(outcome)));
                }
            }
        });
        r.Counter("tpt_client_hello_total", "Outcomes of reading the TLS ClientHello", sink =>
        {
            foreach (var s in SortedServers())
            {
                foreach (var outcome in Enum.GetValues<HelloReadOutcome>())
                {
                    if (s.HelloOutcomeCount(outcome) is var count and > 0)
                    {
                        sink.Add(count, ("name", s.Name), ("outcome", HelloReadOutcomes.Label(outcome)));
                    }
                }
            }
        });
        r.Counter("tpt_route_total", "Connections per configured route", sink =>
        {
            foreach (var route in _routes.Values.OrderBy(x => x.Server, StringComparer.Ordinal).ThenBy(x => x.Route, StringComparer.Ordinal))
            {
                sink.Add(route.Taken, ("name", route.Server), ("route", route.Route), ("upstream", route.Upstream));
            }
        });
        r.Counter("tpt_upstream_connect_failures_total", "Connections whose upstream (or its CONNECT proxy) could not be resolved or connected within connect_timeout", sink =>
        {
            foreach (var u in _upstreams.Values.OrderBy(u => u.Name, StringComparer.Ordinal))
            {
                sink.Add(u.ConnectFailures, ("upstream", u.Name));
            }
        });
        r.Counter("tpt_connect_responses_total", "HTTP CONNECT proxy responses by status code", sink =>
        {
            foreach (var (status, count) in ConnectStatuses)
            {
                sink.Add(count, ("status", status.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }
        });
        r.Counter("tpt_connect_failures_total", "HTTP CONNECT handshakes that failed before a status was read", sink =>
        {
            foreach (var (reason, count) in ConnectFailures)
            {
                sink.Add(count, ("reason", reason));
            }
        });

        _connectionDurations = r.Histogram("tpt_connection_duration_seconds", "Duration of connections", "name", ConnectionDurationBounds);
        _helloDurations = r.Histogram("tpt_client_hello_duration_seconds", "Time from accept until the TLS ClientHello was read or given up on", "name", HelloDurationBounds);

        r.Gauge("tpt_config_generation", "Generation of the configuration in use, 1 at start", sink => sink.Add(ConfigGeneration));
        r.Counter("tpt_config_reloads_total", "Configuration reloads by result", sink =>
        {
            sink.Add(ReloadsSucceeded, ("result", "success"));
            sink.Add(ReloadsFailed, ("result", "failure"));
        });

        // A gauge, not only the counters: a failed reload fixed by the next one ends the alert at once.
        r.Gauge("tpt_config_last_reload_successful", "1 when the last reload was applied or none was tried, 0 when it was rejected (the previous configuration still runs)", sink => sink.Add(_lastReloadSucceeded ? 1 : 0));

        TlsHandshakes.Declare(r);
        Pools.Declare(r);
        Datagrams.Declare(r);
        foreach (var source in sources)
        {
            source.Declare(r);
        }

        r.Seal();
    }

    /// <summary>TLS handshakes tpt runs itself (terminate_tls, upstream tls), by side and result.</summary>
    public TlsHandshakeMetrics TlsHandshakes { get; } = new();

    /// <summary>The warm pools (<c>upstream.NAME.pool</c>), per upstream.</summary>
    public PoolMetricSet Pools { get; } = new();

    /// <summary>UDP servers and uotp: sessions, datagrams, drops.</summary>
    public DatagramMetrics Datagrams { get; } = new();

    /// <summary>The meter every instrument is published on (named <see cref="MetricRegistry.MeterName"/>).</summary>
    public System.Diagnostics.Metrics.Meter Meter => _registry.Meter;

    public long ConfigGeneration { get; set; }

    /// <summary>The clock that stamps <see cref="LastReload"/>.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public ServerMetrics Server(string name) =>
        _servers.GetOrAdd(name, static (n, m) => new ServerMetrics(n, m._connectionDurations.Series(n), m._helloDurations.Series(n)), this);

    public ListenerMetrics Listener(string server, string listen, int maxClients)
    {
        var metrics = _listeners.GetOrAdd((server, listen), static (k, max) => new ListenerMetrics(k.Server, k.Listen, max), maxClients);
        metrics.MaxClients = maxClients;
        return metrics;
    }

    public void OnReload(bool succeeded)
    {
        Interlocked.Increment(ref succeeded ? ref _reloadsSucceeded : ref _reloadsFailed);
        _lastReloadSucceeded = succeeded;
        _lastReload = new ReloadRecord(Time.GetUtcNow(), succeeded);
    }

    public long ReloadsSucceeded => Interlocked.Read(ref _reloadsSucceeded);

    public long ReloadsFailed => Interlocked.Read(ref _reloadsFailed);

    /// <summary>The latest reload attempt; null until the first.</summary>
    public ReloadRecord? LastReload => _lastReload;

    /// <summary>Every server counted since start, including those a reload removed.</summary>
    public IReadOnlyList<ServerMetrics> Servers => [.. _servers.Values];

    /// <summary>The listen addresses bound now.</summary>
    public IReadOnlyList<ListenerMetrics> Listeners => [.. _listeners.Values];

    /// <summary>Responses of CONNECT proxies by status code, lowest first.</summary>
    public IReadOnlyList<KeyValuePair<int, long>> ConnectStatuses => [.. _connectStatuses.OrderBy(p => p.Key)];

    /// <summary>CONNECT handshakes that failed before a status was read, by reason.</summary>
    public IReadOnlyList<KeyValuePair<string, long>> ConnectFailures => [.. _connectFailures.OrderBy(p => p.Key, StringComparer.Ordinal)];

    /// <summary>TCP connects to an upstream (every address tried) that failed, by upstream name.</summary>
    public IReadOnlyList<KeyValuePair<string, long>> UpstreamConnectFailures => [.. _upstreams.Values.OrderBy(u => u.Name, StringComparer.Ordinal).Select(u => KeyValuePair.Create(u.Name, u.ConnectFailures))];

    public void RemoveListener(string server, string listen) => _listeners.TryRemove((server, listen), out _);

    public RouteMetrics Route(string server, string route, string upstream) =>
        _routes.AddOrUpdate(
            (server, route),
            static (k, u) => new RouteMetrics(k.Server, k.Route, u),
            static (k, existing, u) => existing.Upstream == u ? existing : new RouteMetrics(k.Server, k.Route, u),
            upstream);

    /// <summary>Created when the upstream is built (at start and reload), so its series is there, at 0, before any failure.</summary>
    public UpstreamMetrics Upstream(string name) => _upstreams.GetOrAdd(name, static n => new UpstreamMetrics(n));

    public void OnConnectStatus(int status) => _connectStatuses.AddOrUpdate(status, 1, static (_, n) => n + 1);

    public void OnConnectFailure(string reason) => _connectFailures.AddOrUpdate(reason, 1, static (_, n) => n + 1);

    /// <summary>The Prometheus text of every family, the meter's instruments read the same way a listener reads them.</summary>
    public string Render() => _registry.Render();

    public void Dispose() => _registry.Dispose();

    private IEnumerable<ServerMetrics> SortedServers() => _servers.Values.OrderBy(s => s.Name, StringComparer.Ordinal);

    private IEnumerable<ListenerMetrics> SortedListeners() =>
        _listeners.Values.OrderBy(l => l.Server, StringComparer.Ordinal).ThenBy(l => l.Listen, StringComparer.Ordinal);

    private void PerServer(MetricRegistry r, string name, string help, Func<ServerMetrics, long> value) =>
        r.Counter(name, help, sink =>
        {
            foreach (var s in SortedServers())
            {
                sink.Add(value(s), ("name", s.Name));
            }
        });
}
