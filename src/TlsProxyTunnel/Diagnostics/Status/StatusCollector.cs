using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.Diagnostics.Status;

/// <summary>What a status section is built from: the generation in use and the moment of the request.</summary>
internal sealed record StatusContext(RuntimeSnapshot Snapshot, DateTimeOffset Now);

/// <summary>
/// Builds the status page from the same instruments <c>/metrics</c> reads (<see cref="ProxyMetrics"/>, the
/// resolver's counters and cache) and from the configuration in use. Names, addresses and upstream targets are
/// shown as <see cref="ConfigSummary"/> shows them to <c>tpt check</c>: as written in the file, never expanded
/// from the environment; CONNECT headers not at all.
/// </summary>
internal sealed class StatusCollector : IDisposable
{
    /// <summary>How often the HTML page reloads itself.</summary>
    public static readonly TimeSpan Refresh = TimeSpan.FromSeconds(5);

    private static readonly string[] RatedCounters = ["accepted", "rejected", "errored"];

    private readonly ProxyMetrics _metrics;
    private readonly ReadinessState _readiness;
    private readonly Func<RuntimeSnapshot> _current;
    private readonly DnsHostResolver? _dns;
    private readonly TimeProvider _time;
    private readonly DateTimeOffset _started;
    private readonly CounterRates _rates;

    public StatusCollector(ProxyMetrics metrics, ReadinessState readiness, Func<RuntimeSnapshot> current, DnsHostResolver? dns, TimeProvider time)
    {
        _metrics = metrics;
        _readiness = readiness;
        _current = current;
        _dns = dns;
        _time = time;
        _started = time.GetUtcNow();
        _rates = new CounterRates(time, ReadCounters);
        Sections = [Process, Servers, Routes, Upstreams, Connect, DnsAnswers];
    }

    /// <summary>
    /// Section builders in page order. A feature adds its own (pools, UDP sessions, relay pairs) at start-up;
    /// one that returns null is left out of that response.
    /// </summary>
    public List<Func<StatusContext, StatusSection?>> Sections { get; }

    public StatusPageModel Collect()
    {
        var context = new StatusContext(_current(), _time.GetUtcNow());
        var sections = new List<StatusSection>(Sections.Count);
        foreach (var build in Sections)
        {
            if (build(context) is { } section)
            {
                sections.Add(section);
            }
        }

        return new StatusPageModel(context.Now, Refresh, sections);
    }

    public void Dispose() => _rates.Dispose();

    internal static string Engine =>
        string.Create(CultureInfo.InvariantCulture, $"{RuntimeInformation.FrameworkDescription} ({(RuntimeFeature.IsDynamicCodeSupported ? "JIT" : "Native AOT")}, {RuntimeInformation.RuntimeIdentifier})");

    private IEnumerable<KeyValuePair<string, long>> ReadCounters()
    {
        foreach (var server in _metrics.Servers)
        {
            yield return new(RateKey(server.Name, "accepted"), server.Accepted);
            yield return new(RateKey(server.Name, "rejected"), server.Rejected);
            yield return new(RateKey(server.Name, "errored"), server.Errored);
        }
    }

    private static string RateKey(string server, string counter) => $"{server}\n{counter}";

    private StatusSection Process(StatusContext context)
    {
        var last = _metrics.LastReload;
        var ready = _readiness.IsReady;
        return new StatusSection("process", "Process")
        {
            Fields =
            [
                new("version", "Version", StatusValue.Of(Hosting.TptApp.Version)),
                new("engine", "Engine", StatusValue.Of(Engine)),
                new("pid", "PID", StatusValue.Of(Environment.ProcessId.ToString(CultureInfo.InvariantCulture))),
                new("started_at", "Started", StatusValue.At(_started)),
                new("uptime_seconds", "Uptime", StatusValue.Seconds(context.Now - _started)),
                new("ready", "Readiness", StatusValue.Of(ready ? "ready" : "not ready (starting or draining)", ready ? StatusTone.Good : StatusTone.Warning)),
                new("config_file", "Configuration file", StatusValue.Of(context.Snapshot.Config.SourcePath)),
                new("config_generation", "Configuration generation", StatusValue.Of(context.Snapshot.Generation)),
                new("reloads_succeeded", "Reloads succeeded", StatusValue.Of(_metrics.ReloadsSucceeded)),
                new("reloads_failed", "Reloads failed", StatusValue.Of(_metrics.ReloadsFailed, _metrics.ReloadsFailed > 0 ? StatusTone.Warning : StatusTone.Plain)),
                new(
                    "last_reload_result",
                    "Last reload",
                    last is null ? StatusValue.Of("none since start")
                        : last.Succeeded ? StatusValue.Of("success", StatusTone.Good)
                        : StatusValue.Of("failure (still running the previous generation; the log says why)", StatusTone.Bad)),
                new("last_reload_at", "Last reload at", StatusValue.At(last?.At)),
            ],
        };
    }

    private StatusSection Servers(StatusContext context)
    {
        var listeners = _metrics.Listeners;
        var windows = CounterRates.Windows;
        List<StatusColumn> columns = [new("name", "Server"), new("mode", "Mode"), new("listen", "Listen"), new("active", "Active"), new("max", "Max")];
        foreach (var counter in RatedCounters)
        {
            columns.Add(new(counter, Capitalize(counter)));
            foreach (var window in windows)
            {
                columns.Add(new($"{counter}_per_second_{WindowKey(window)}", $"/s {WindowText(window)}"));
            }
        }

        var rows = new List<IReadOnlyList<StatusValue>>();
        foreach (var server in context.Snapshot.Config.Servers)
        {
            var runtime = context.Snapshot.Servers[server.Name];
            var own = listeners.Where(l => l.Server == server.Name).OrderBy(l => l.Listen, StringComparer.Ordinal).ToList();
            // A UDP server counts sessions against max_sessions where a TCP one counts connections against maxclients.
            var active = server.IsUdp ? runtime.DatagramMetrics?.Sessions ?? 0 : own.Sum(l => l.Active);
            var limit = server.IsUdp ? server.Udp.MaxSessions : runtime.ConnectionLimit;
            var metrics = runtime.Metrics;
            var row = new List<StatusValue>
            {
                StatusValue.Of(server.Name),
                StatusValue.Of(runtime.ProbeOnly ? "probes" : server.IsUdp ? "udp" : server.Tls ? "tls" : "tcp"),
                StatusValue.List(server.IsUdp ? server.Listen.Select(l => l.Text) : own.Select(l => l.Listen)),
                StatusValue.Of(active, active >= limit ? StatusTone.Bad : active * 10 >= limit * 8 ? StatusTone.Warning : StatusTone.Plain),
                StatusValue.Of(limit),
            };
            foreach (var (counter, value) in new[] { ("accepted", metrics.Accepted), ("rejected", metrics.Rejected), ("errored", metrics.Errored) })
            {
                row.Add(StatusValue.Of(value, value > 0 && counter != "accepted" ? StatusTone.Warning : StatusTone.Plain));
                foreach (var window in windows)
                {
                    row.Add(StatusValue.Rate(_rates.PerSecond(RateKey(server.Name, counter), value, window)));
                }
            }

            rows.Add(row);
        }

        return new StatusSection("servers", "Servers")
        {
            Note = string.Create(
                CultureInfo.InvariantCulture,
                $"Active and Max count connections across the server's listen addresses. Rates are per second over the last {string.Join(" and ", windows.Select(WindowText))} (counters sampled every {CounterRates.SampleInterval.TotalSeconds:0} s); '–' until the process has run that long."),
            Columns = columns,
            Rows = rows,
        };
    }

    private static StatusSection Routes(StatusContext context)
    {
        var rows = new List<IReadOnlyList<StatusValue>>();
        foreach (var server in context.Snapshot.Config.Servers)
        {
            foreach (var route in context.Snapshot.Servers[server.Name].Routes)
            {
                if (!context.Snapshot.Config.Upstreams.TryGetValue(route.Upstream.Name, out var upstream))
                {
                    // Not a configured upstream: a tls_relay server's control protocol, which has no target.
                    rows.Add([StatusValue.Of(server.Name), StatusValue.Of(route.Name), StatusValue.Of(route.Upstream.Name), StatusValue.Of("-"), StatusValue.Of("-"), StatusValue.Of(route.Metrics.Taken)]);
                    continue;
                }

                rows.Add(
                [
                    StatusValue.Of(server.Name),
                    StatusValue.Of(route.Name),
                    StatusValue.Of(upstream.Name),
                    StatusValue.Of(ConfigSummary.Shown(upstream)),
                    StatusValue.Of(upstream.Kind == UpstreamKind.Tcp ? ConfigSummary.ShownTarget(route.Via) : "-"),
                    StatusValue.Of(route.Metrics.Taken),
                ]);
            }
        }

        return new StatusSection("routes", "Routes")
        {
            Note = "SNI routes in file order, then each server's default. Connections counts every connection the route took since start.",
            Columns = [new("server", "Server"), new("route", "Route"), new("upstream", "Upstream"), new("target", "Target"), new("via", "Via"), new("connections", "Connections")],
            Rows = rows,
        };
    }

    private StatusSection Upstreams(StatusContext context)
    {
        var failures = _metrics.UpstreamConnectFailures.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        var rows = TcpUpstreams(context)
            .Select(u =>
            {
                var count = failures.GetValueOrDefault(u.Name);
                return (IReadOnlyList<StatusValue>)[StatusValue.Of(u.Name), StatusValue.Of(ConfigSummary.Shown(u)), StatusValue.Of(count, count > 0 ? StatusTone.Bad : StatusTone.Plain)];
            })
            .ToList();
        return new StatusSection("upstreams", "Upstream connect failures")
        {
            Note = "TCP connects that failed on every address of the upstream (or of its CONNECT proxy).",
            Columns = [new("upstream", "Upstream"), new("target", "Target"), new("connect_failures", "Connect failures")],
            Rows = rows,
            EmptyText = "no tcp:// upstream configured",
        };
    }

    private StatusSection Connect(StatusContext context)
    {
        var rows = new List<IReadOnlyList<StatusValue>>();
        foreach (var (status, count) in _metrics.ConnectStatuses)
        {
            var tone = status is >= 200 and < 300 ? StatusTone.Good : StatusTone.Bad;
            rows.Add([StatusValue.Of("response"), StatusValue.Of(status.ToString(CultureInfo.InvariantCulture), tone), StatusValue.Of(count)]);
        }

        foreach (var (reason, count) in _metrics.ConnectFailures)
        {
            rows.Add([StatusValue.Of("failure"), StatusValue.Of(reason, StatusTone.Bad), StatusValue.Of(count)]);
        }

        return new StatusSection("connect", "CONNECT proxy outcomes")
        {
            Note = "Status codes the CONNECT proxies answered, and handshakes that failed before a status was read.",
            Columns = [new("kind", "Kind"), new("outcome", "Status or reason"), new("count", "Count")],
            Rows = rows,
            EmptyText = "no CONNECT handshake yet",
        };
    }

    private StatusSection DnsAnswers(StatusContext context)
    {
        var rows = new List<IReadOnlyList<StatusValue>>();
        // original_dst has no name to resolve.
        foreach (var upstream in TcpUpstreams(context).Where(u => !u.ConnectsToOriginalDestination))
        {
            var view = _dns?.Inspect(HostToResolve.Of(upstream), upstream.Family);
            var (state, tone) = view?.State switch
            {
                null => ("not resolved yet", StatusTone.Plain),
                DnsAnswerState.Fresh => ("fresh", StatusTone.Good),
                DnsAnswerState.Stale => ("stale (refresh failing)", StatusTone.Warning),
                DnsAnswerState.Expired => ("expired", StatusTone.Plain),
                DnsAnswerState.Failed => ("failed", StatusTone.Bad),
                DnsAnswerState.Pending => ("resolving", StatusTone.Plain),
                _ => ("no DNS (IP literal, hosts file or localhost)", StatusTone.Plain),
            };
            rows.Add(
            [
                StatusValue.Of(upstream.Name),
                StatusValue.Of(ConfigSummary.Shown(upstream)),
                StatusValue.Of(state, tone),
                StatusValue.List(view?.Addresses.Select(a => a.ToString()) ?? []),
                StatusValue.Seconds(view?.Age),
                StatusValue.Seconds(view?.Ttl),
            ]);
        }

        return new StatusSection("dns", "DNS answers")
        {
            Note = "The answer each tcp:// upstream's host name resolves to now. TTL is the record's, clamped to resolver.min_ttl and max_ttl.",
            Fields = _dns is null ? [] :
            [
                new("lookups", "Questions sent", StatusValue.Of(_dns.Counters.Lookups)),
                new("failures", "Failed lookups", StatusValue.Of(_dns.Counters.Failures, _dns.Counters.Failures > 0 ? StatusTone.Warning : StatusTone.Plain)),
                new("stale_answers", "Stale answers served", StatusValue.Of(_dns.Counters.StaleAnswers, _dns.Counters.StaleAnswers > 0 ? StatusTone.Warning : StatusTone.Plain)),
            ],
            Columns = [new("upstream", "Upstream"), new("target", "Target"), new("state", "State"), new("addresses", "Addresses"), new("age_seconds", "Age"), new("ttl_seconds", "TTL")],
            Rows = rows,
            EmptyText = "no tcp:// upstream configured",
        };
    }

    private static IEnumerable<UpstreamConfig> TcpUpstreams(StatusContext context) =>
        context.Snapshot.Config.Upstreams.Values.Where(u => u.Kind == UpstreamKind.Tcp).OrderBy(u => u.Name, StringComparer.Ordinal);

    private static string WindowKey(TimeSpan window) => string.Create(CultureInfo.InvariantCulture, $"{window.TotalSeconds:0}s");

    private static string WindowText(TimeSpan window) =>
        window.TotalSeconds % 60 == 0 ? string.Create(CultureInfo.InvariantCulture, $"{window.TotalMinutes:0} min") : string.Create(CultureInfo.InvariantCulture, $"{window.TotalSeconds:0} s");

    private static string Capitalize(string word) => char.ToUpperInvariant(word[0]) + word[1..];
}
