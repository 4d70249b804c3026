using System.Collections.Concurrent;
using TlsProxyTunnel.Connections;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>Counters of one server; updated with Interlocked on the hot path, read by /metrics.</summary>
internal sealed class ServerMetrics(string name)
{
    private readonly long[] _helloOutcomes = new long[Enum.GetValues<HelloReadOutcome>().Length];
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

    public void OnClosed(bool errored, long fromClient, long toClient, TimeSpan duration)
    {
        Interlocked.Increment(ref errored ? ref _errored : ref _closed);
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
    private readonly ConcurrentDictionary<int, long> _connectStatuses = new();
    private readonly ConcurrentDictionary<string, long> _connectFailures = new(StringComparer.Ordinal);

    public long ConfigGeneration { get; set; }

    public ServerMetrics Server(string name) => _servers.GetOrAdd(name, static n => new ServerMetrics(n));

    public ListenerMetrics Listener(string server, string listen, int maxClients)
    {
        var metrics = _listeners.GetOrAdd((server, listen), static (k, max) => new ListenerMetrics(k.Server, k.Listen, max), maxClients);
        metrics.MaxClients = maxClients;
        return metrics;
    }

    private long _reloadsSucceeded;
    private long _reloadsFailed;

    public void OnReload(bool succeeded) => Interlocked.Increment(ref succeeded ? ref _reloadsSucceeded : ref _reloadsFailed);

    public void RemoveListener(string server, string listen) => _listeners.TryRemove((server, listen), out _);

    public RouteMetrics Route(string server, string route, string upstream) =>
        _routes.AddOrUpdate(
            (server, route),
            static (k, u) => new RouteMetrics(k.Server, k.Route, u),
            static (k, existing, u) => existing.Upstream == u ? existing : new RouteMetrics(k.Server, k.Route, u),
            upstream);

    public void OnConnectStatus(int status) => _connectStatuses.AddOrUpdate(status, 1, static (_, n) => n + 1);

    public void OnConnectFailure(string reason) => _connectFailures.AddOrUpdate(reason, 1, static (_, n) => n + 1);

    // TLS handshakes tpt runs itself (issue #11), side x result.
    public TlsHandshakeMetrics TlsHandshakes { get; } = new();

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
        WriteCounter(w, servers, "tpt_connections_rejected_total", "Connections rejected because the server was at maxclients", s => s.Rejected);
        WriteCounter(w, servers, "tpt_connections_closed_total", "Connections that ended without error", s => s.Closed);
        WriteCounter(w, servers, "tpt_connections_errored_total", "Connections that ended with an error", s => s.Errored);
        WriteCounter(w, servers, "tpt_received_bytes_total", "Bytes received from clients", s => s.BytesFromClients);
        WriteCounter(w, servers, "tpt_sent_bytes_total", "Bytes sent to clients", s => s.BytesToClients);

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

        TlsHandshakes.Write(w);

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
