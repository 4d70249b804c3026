using System.Text.Json.Nodes;

namespace TlsProxyTunnel.Tests.Packaging;

/// <summary>
/// deploy/grafana/tpt-dashboard.json reads only metrics tpt exposes (from <see cref="ExposedMetrics"/>, the
/// code's own /metrics), so renaming or dropping a metric fails here instead of leaving an empty panel; and it
/// imports anywhere: its data source is a variable, not an id from one Grafana.
/// </summary>
public sealed class GrafanaDashboardTests
{
    private static readonly string DashboardPath = Path.Combine(Repository.Root, "deploy", "grafana", "tpt-dashboard.json");

    private static JsonObject LoadDashboard() => JsonNode.Parse(File.ReadAllText(DashboardPath))!.AsObject();

    [Fact]
    public void Every_query_reads_only_metrics_tpt_exposes()
    {
        var queries = Queries(LoadDashboard()).ToList();
        Assert.True(queries.Count >= 20, $"only {queries.Count} queries found: the dashboard walk is broken");
        Assert.Empty(UnknownMetrics(queries));
    }

    [Fact]
    public void A_panel_with_a_metric_tpt_does_not_expose_fails_the_check()
    {
        var dashboard = LoadDashboard();
        var rowWithPanels = dashboard["panels"]!.AsArray();
        rowWithPanels.Add(new JsonObject
        {
            ["type"] = "timeseries",
            ["title"] = "renamed away",
            ["targets"] = new JsonArray(new JsonObject { ["refId"] = "A", ["expr"] = "sum by (name) (rate(tpt_connections_refused_total{name=~\"$server\"}[$__rate_interval]))" }),
        });

        Assert.Equal(["tpt_connections_refused_total"], UnknownMetrics(Queries(dashboard)).Select(u => u.Metric));
    }

    [Fact]
    public void Every_panel_queries_the_datasource_variable()
    {
        var dashboard = LoadDashboard();
        var variable = dashboard["templating"]!["list"]!.AsArray().Single(v => (string?)v!["name"] == "datasource")!;
        Assert.Equal("datasource", (string?)variable["type"]);
        Assert.Equal("prometheus", (string?)variable["query"]);
        foreach (var panel in Panels(dashboard).Where(p => (string?)p["type"] != "row"))
        {
            Assert.Equal("${datasource}", (string?)panel["datasource"]?["uid"]);
            Assert.NotEmpty(panel["targets"]!.AsArray());
            Assert.All(panel["targets"]!.AsArray(), t => Assert.Equal("${datasource}", (string?)t!["datasource"]?["uid"]));
        }

        // __inputs (the "export for sharing" form) only works through the import dialog; file provisioning and
        // the API leave ${DS_...} unresolved. A datasource variable works in all three.
        Assert.Null(dashboard["__inputs"]);
    }

    [Fact]
    public void The_dashboard_covers_what_operators_look_at()
    {
        var used = Queries(LoadDashboard()).SelectMany(q => PromQlMetricNames.Of(q.Expression)).ToHashSet(StringComparer.Ordinal);
        foreach (var metric in (string[])[
            "tpt_active_connections", "tpt_connections_accepted_total", "tpt_connections_rejected_total", "tpt_connection_outcomes_total",
            "tpt_received_bytes_total", "tpt_sent_bytes_total", "tpt_client_hello_total", "tpt_upstream_connect_failures_total",
            "tpt_connect_responses_total", "tpt_connect_failures_total", "tpt_dns_stale_answers_total", "process_resident_memory_bytes",
            "process_open_fds", "process_max_fds"])
        {
            Assert.Contains(metric, used);
        }
    }

    [Fact]
    public void Panel_ids_are_unique_and_panels_do_not_overlap()
    {
        var panels = Panels(LoadDashboard()).ToList();
        Assert.Equal(panels.Count, panels.Select(p => (int)p["id"]!).Distinct().Count());
        var boxes = panels.Select(p => p["gridPos"]!).Select(g => (X: (int)g["x"]!, Y: (int)g["y"]!, W: (int)g["w"]!, H: (int)g["h"]!)).ToList();
        Assert.All(boxes, b => Assert.True(b.X >= 0 && b.X + b.W <= 24, $"panel at x={b.X} w={b.W} leaves the 24-column grid"));
        for (var i = 0; i < boxes.Count; i++)
        {
            for (var j = i + 1; j < boxes.Count; j++)
            {
                var (a, b) = (boxes[i], boxes[j]);
                var overlap = a.X < b.X + b.W && b.X < a.X + a.W && a.Y < b.Y + b.H && b.Y < a.Y + a.H;
                Assert.False(overlap, $"panels {panels[i]["title"]} and {panels[j]["title"]} overlap");
            }
        }
    }

    /// <summary>Each metric a query reads that tpt does not expose, with where it is used.</summary>
    internal static List<(string Metric, string Where)> UnknownMetrics(IEnumerable<(string Where, string Expression)> queries) =>
        queries.SelectMany(q => PromQlMetricNames.Of(q.Expression).Select(m => (Metric: m, q.Where)))
            .Where(u => !ExposedMetrics.All.Contains(u.Metric) && !ExposedMetrics.PerTarget.Contains(u.Metric))
            .ToList();

    /// <summary>Every PromQL in the dashboard: panel targets (rows' nested panels too) and query variables.</summary>
    private static IEnumerable<(string Where, string Expression)> Queries(JsonObject dashboard)
    {
        foreach (var panel in Panels(dashboard))
        {
            foreach (var target in panel["targets"]?.AsArray() ?? [])
            {
                if (target?["expr"] is { } expr)
                {
                    yield return ($"panel '{panel["title"]}' {target["refId"]}", (string)expr!);
                }
            }
        }

        foreach (var variable in dashboard["templating"]?["list"]?.AsArray() ?? [])
        {
            if ((string?)variable!["type"] == "query")
            {
                var query = variable["query"] is JsonObject editor ? (string?)editor["query"] : (string?)variable["query"];
                yield return ($"variable '{variable["name"]}'", query!);
            }
        }
    }

    private static IEnumerable<JsonObject> Panels(JsonObject dashboard) =>
        dashboard["panels"]!.AsArray().Select(p => p!.AsObject())
            .SelectMany(p => new[] { p }.Concat(p["panels"]?.AsArray().Select(n => n!.AsObject()) ?? []));
}
