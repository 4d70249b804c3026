using System.Text.Json;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.Packaging;

namespace TlsProxyTunnel.IntegrationTests.Monitoring;

/// <summary>A real Prometheus scraping a tpt that has carried traffic: the series the dashboard and alerts use arrive, labelled.</summary>
public sealed class PrometheusScrapeTests(MonitoredTptFixture tpt) : IClassFixture<MonitoredTptFixture>
{
    private static readonly TimeSpan SeriesDeadline = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    private static string AlertRules => Path.Combine(Repository.Root, "deploy", "prometheus", "alerts.yaml");

    [Fact]
    public async Task The_main_series_arrive_with_their_labels_and_the_alert_rules_load()
    {
        await using var prometheus = await PrometheusServer.StartAsync(tpt.Health, AlertRules);
        var instance = tpt.Health.ToString();

        // query → the labels one of its series must carry (besides job and instance), with a value of at least 1.
        (string Query, Dictionary<string, string> Labels)[] expected =
        [
            ("up", []),
            ("tpt_maxclients{name=\"capped\"}", new() { ["listen"] = tpt.Tpt.EndPoint("capped").ToString() }),
            ("tpt_active_connections{name=\"health\"}", new() { ["listen"] = instance }),
            ("tpt_connections_accepted_total{name=\"tls\"}", []),
            ("tpt_connections_rejected_total{name=\"capped\"}", []),
            ("tpt_connections_closed_total{name=\"tls\"}", []),
            ("tpt_connections_errored_total{name=\"dead\"}", []),
            ("tpt_connection_outcomes_total{name=\"dead\",outcome=\"upstream_unreachable\"}", []),
            ("tpt_connection_outcomes_total{name=\"refused\",outcome=\"proxy_refused\"}", []),
            ("tpt_received_bytes_total{name=\"tls\"}", []),
            ("tpt_sent_bytes_total{name=\"tls\"}", []),
            ("tpt_client_hello_total{name=\"tls\"}", new() { ["outcome"] = "sni" }),
            ("tpt_route_total{name=\"tls\",route=\"a.example.test\"}", new() { ["upstream"] = "a" }),
            ("tpt_upstream_connect_failures_total", new() { ["upstream"] = "deadupstream" }),
            ("tpt_connect_responses_total", new() { ["status"] = "403" }),
            ("tpt_connect_failures_total", new() { ["reason"] = "timeout" }),
            ("tpt_connection_duration_seconds_count{name=\"tls\"}", []),
            ("tpt_connection_duration_seconds_bucket{name=\"tls\",le=\"+Inf\"}", []),
            ("tpt_config_generation", []),
            ("process_resident_memory_bytes", []),
            ("process_open_fds", []),
            ("process_max_fds", []),
        ];

        // What Prometheus has stored is announced nowhere (it scrapes every second on its own clock): poll its API.
        var missing = expected.Select(e => e.Query).ToList();
        var arrived = await Eventually.HoldsAsync(
            async () =>
            {
                foreach (var (query, labels) in expected.Where(e => missing.Contains(e.Query)))
                {
                    var series = await prometheus.QueryAsync(query);
                    if (series.Any(s => s.Value >= 1 && s.Labels.GetValueOrDefault("job") == "tpt" && s.Labels.GetValueOrDefault("instance") == instance
                        && labels.All(l => s.Labels.GetValueOrDefault(l.Key) == l.Value)))
                    {
                        missing.Remove(query);
                    }
                }

                return missing.Count == 0;
            },
            SeriesDeadline,
            PollInterval);
        Assert.True(arrived, $"not in Prometheus after {SeriesDeadline}: {string.Join(", ", missing)}\n{prometheus.Output}");

        // The rules file loads in the real server too, not only in promtool, and evaluates without error.
        using var rules = await prometheus.RulesAsync();
        var loaded = rules.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray()
            .SelectMany(g => g.GetProperty("rules").EnumerateArray()).ToList();
        Assert.NotEmpty(loaded);
        Assert.All(loaded, r => Assert.NotEqual("err", r.GetProperty("health").GetString()));
    }

    [Fact]
    public async Task Every_dashboard_query_is_valid_PromQL_and_shows_data_for_a_loaded_tpt()
    {
        await using var prometheus = await PrometheusServer.StartAsync(tpt.Health);

        // The dashboard's variables as Grafana would fill them for "All" and a 15 s scrape interval.
        var queries = DashboardQueries()
            .Select(q => (q.Panel, Query: q.Expression
                .Replace("$job", "tpt", StringComparison.Ordinal)
                .Replace("$instance", ".*", StringComparison.Ordinal)
                .Replace("$server", ".*", StringComparison.Ordinal)
                .Replace("$__rate_interval", "1m", StringComparison.Ordinal)))
            .ToList();
        Assert.NotEmpty(queries);
        Assert.All(queries, q => Assert.DoesNotContain("$", q.Query, StringComparison.Ordinal));

        // A rate needs two scrapes in its window; polling the API, as above.
        var empty = queries.ToList();
        var answered = await Eventually.HoldsAsync(
            async () =>
            {
                // QueryAsync fails the test on a query Prometheus rejects (400 bad_data).
                foreach (var q in empty.ToList())
                {
                    if ((await prometheus.QueryAsync(q.Query)).Count > 0)
                    {
                        empty.Remove(q);
                    }
                }

                return empty.Count == 0;
            },
            SeriesDeadline,
            PollInterval);
        Assert.True(answered, "dashboard queries with no data:\n" + string.Join("\n", empty.Select(q => $"{q.Panel}: {q.Query}")));
    }

    private static List<(string Panel, string Expression)> DashboardQueries()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repository.Root, "deploy", "grafana", "tpt-dashboard.json")));
        var panels = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.TryGetProperty("panels", out var nested) ? nested.EnumerateArray().Prepend(p) : [p]);
        return panels
            .Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => (p.GetProperty("title").GetString()!, t.GetProperty("expr").GetString()!)))
            .ToList();
    }
}
