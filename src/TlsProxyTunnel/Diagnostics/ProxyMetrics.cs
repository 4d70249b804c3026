using System.Collections.Concurrent;
using TlsProxyTunnel.Connections;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>Counters of one server; updated with Interlocked on the hot path, read by /metrics.</summary>
internal sealed class ServerMetrics(string name)
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

    public DurationHistogram Durations { get; } = new();

    public void OnAccepted() => Interlocked.Increment(ref _accepted);

    public void OnRejected() => Interlocked.Increment(ref _rejected);

    public void OnHelloOutcome(HelloReadOutcome outcome) => Interlocked.Increment(ref _helloOutcomes[(int)outcome]);

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

/// <summary>A cumulative histogram with fixed buckets, lock-free.</summary>
internal sealed class DurationHistogram
{
    public static readonly double[] Bounds = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600];

    private readonly long[] _counts = new long[Bounds.Length + 1];
    private long _sumMicroseconds;

    public void Observe(double seconds)
    {
        var i = 0;
        while (i < Bounds.Length && seconds > Bounds[i])
        {
            i++;
        }

        Interlocked.Increment(ref _counts[i]);
        Interlocked.Add(ref _sumMicroseconds, (long)(seconds * 1_000_000));
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

/// <summary>Every metric of the process. Metrics outlive a configuration generation, so a reload keeps counting.</summary>
internal sealed class ProxyMetrics
{
    private readonly ConcurrentDictionary<string, ServerMetrics> _servers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Server, string Listen), ListenerMetrics> _listeners = new();
    private readonly ConcurrentDictionary<(string Server, string Route), RouteMetrics> _routes = new();
    private readonly ConcurrentDictionary<string, UpstreamMetrics> _upstreams = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<int, long> _connectStatuses = new();
    private readonly ConcurrentDictionary<string, long> _connectFailures = new(StringComparer.Ordinal);
    private volatile ReloadRecord? _lastReload;

    public long ConfigGeneration { get; set; }

    /// <summary>The clock that stamps <see cref="LastReload"/>.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public ServerMetrics Server(string name) => _servers.GetOrAdd(name, static n => new ServerMetrics(n));

    public ListenerMetrics Listener(string server, string listen, int maxClients)
    {
        var metrics = _listeners.GetOrAdd((server, listen), static (k, max) => new ListenerMetrics(k.Server, k.Listen, max), maxClients);
        metrics.MaxClients = maxClients;
        return metrics;
    }

    private long _reloadsSucceeded;
    private long _reloadsFailed;
    private volatile bool _lastReloadSucceeded = true;

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


    /// <summary>Extra sources (DNS, reloads) that write their own families.</summary>
    public List<Action<PrometheusTextWriter>> Collectors { get; } = [];

    public string Render()
    {
        var w = new PrometheusTextWriter();
        var listeners = _listeners.Values.OrderBy(l => l.Server, StringComparer.Ordinal).ThenBy(l => l.Listen, StringComparer.Ordinal).ToArray();
        var servers = _servers.Values.OrderBy(s => s.Name, StringComparer.Ordinal).ToArray();

        w.Family("tpt_active_connections", "gauge", "Current number of active connections");
        foreach (var l in listeners)
        {
            w.Sample("tpt_active_connections", l.Active, ("name", l.Server), ("listen", l.Listen));
        }

        w.Family("tpt_maxclients", "gauge", "Maximum number of concurrent connections of the server");
        foreach (var l in listeners)
        {
            w.Sample("tpt_maxclients", l.MaxClients, ("name", l.Server), ("listen", l.Listen));
        }

        WriteCounter(w, servers, "tpt_connections_accepted_total", "Connections accepted", s => s.Accepted);
        WriteCounter(w, servers, "tpt_connections_rejected_total", "Connections refused because the server was at maxclients or the process near its descriptor limit", s => s.Rejected);
        WriteCounter(w, servers, "tpt_connections_closed_total", "Connections that ended without error", s => s.Closed);
        WriteCounter(w, servers, "tpt_connections_errored_total", "Connections that ended with an error", s => s.Errored);
        WriteCounter(w, servers, "tpt_received_bytes_total", "Bytes received from clients", s => s.BytesFromClients);
        WriteCounter(w, servers, "tpt_sent_bytes_total", "Bytes sent to clients", s => s.BytesToClients);

        // Every outcome of every server, zeros included: a series that first appears at 1 hides that increase
        // from rate() and increase(), which is all the dashboard and alerts look at.
        w.Family("tpt_connection_outcomes_total", "counter", "Connections by how they ended (the access log's outcome)");
        foreach (var s in servers)
        {
            foreach (var outcome in Enum.GetValues<ConnectionOutcome>())
            {
                w.Sample("tpt_connection_outcomes_total", s.OutcomeCount(outcome), ("name", s.Name), ("outcome", ConnectionOutcomes.Label(outcome)));
            }
        }

        w.Family("tpt_client_hello_total", "counter", "Outcomes of reading the TLS ClientHello");
        foreach (var s in servers)
        {
            foreach (var outcome in Enum.GetValues<HelloReadOutcome>())
            {
                var count = s.HelloOutcomeCount(outcome);
                if (count > 0)
                {
                    w.Sample("tpt_client_hello_total", count, ("name", s.Name), ("outcome", HelloReadOutcomes.Label(outcome)));
                }
            }
        }

        w.Family("tpt_route_total", "counter", "Connections per configured route");
        foreach (var r in _routes.Values.OrderBy(r => r.Server, StringComparer.Ordinal).ThenBy(r => r.Route, StringComparer.Ordinal))
        {
            w.Sample("tpt_route_total", r.Taken, ("name", r.Server), ("route", r.Route), ("upstream", r.Upstream));
        }

        w.Family("tpt_upstream_connect_failures_total", "counter", "Connections whose upstream (or its CONNECT proxy) could not be resolved or connected within connect_timeout");
        foreach (var u in _upstreams.Values.OrderBy(u => u.Name, StringComparer.Ordinal))
        {
            w.Sample("tpt_upstream_connect_failures_total", u.ConnectFailures, ("upstream", u.Name));
        }

        w.Family("tpt_connect_responses_total", "counter", "HTTP CONNECT proxy responses by status code");
        foreach (var (status, count) in _connectStatuses.OrderBy(p => p.Key))
        {
            w.Sample("tpt_connect_responses_total", count, ("status", status.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        w.Family("tpt_connect_failures_total", "counter", "HTTP CONNECT handshakes that failed before a status was read");
        foreach (var (reason, count) in _connectFailures.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            w.Sample("tpt_connect_failures_total", count, ("reason", reason));
        }

        w.Family("tpt_connection_duration_seconds", "histogram", "Duration of connections");
        foreach (var s in servers)
        {
            var counts = s.Durations.CumulativeCounts();
            for (var i = 0; i < DurationHistogram.Bounds.Length; i++)
            {
                w.Sample(
                    "tpt_connection_duration_seconds_bucket",
                    counts[i],
                    ("name", s.Name),
                    ("le", DurationHistogram.Bounds[i].ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }

            w.Sample("tpt_connection_duration_seconds_bucket", counts[^1], ("name", s.Name), ("le", "+Inf"));
            w.Sample("tpt_connection_duration_seconds_sum", s.Durations.SumSeconds, ("name", s.Name));
            w.Sample("tpt_connection_duration_seconds_count", counts[^1], ("name", s.Name));
        }

        w.Family("tpt_config_generation", "gauge", "Generation of the configuration in use, 1 at start");
        w.Sample("tpt_config_generation", ConfigGeneration);
        w.Family("tpt_config_reloads_total", "counter", "Configuration reloads by result");
        w.Sample("tpt_config_reloads_total", Interlocked.Read(ref _reloadsSucceeded), ("result", "success"));
        w.Sample("tpt_config_reloads_total", Interlocked.Read(ref _reloadsFailed), ("result", "failure"));

        // A gauge, not only the counters: a failed reload fixed by the next one ends the alert at once.
        w.Family("tpt_config_last_reload_successful", "gauge", "1 when the last reload was applied or none was tried, 0 when it was rejected (the previous configuration still runs)");
        w.Sample("tpt_config_last_reload_successful", _lastReloadSucceeded ? 1 : 0);

        foreach (var collect in Collectors)
        {
            collect(w);
        }

        return w.ToString();
    }

    private static void WriteCounter(PrometheusTextWriter w, ServerMetrics[] servers, string name, string help, Func<ServerMetrics, long> value)
    {
        w.Family(name, "counter", help);
        foreach (var s in servers)
        {
            w.Sample(name, value(s), ("name", s.Name));
        }
    }
}
