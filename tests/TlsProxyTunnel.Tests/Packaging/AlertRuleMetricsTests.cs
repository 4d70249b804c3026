using YamlDotNet.RepresentationModel;

namespace TlsProxyTunnel.Tests.Packaging;

/// <summary>
/// deploy/prometheus/alerts.yaml reads only metrics tpt exposes. promtool's unit tests feed the rules made-up
/// series, so they would keep passing on an alert whose metric tpt renamed; this catches that.
/// </summary>
public sealed class AlertRuleMetricsTests
{
    private static readonly string RulesPath = Path.Combine(Repository.Root, "deploy", "prometheus", "alerts.yaml");

    [Fact]
    public void Every_alert_reads_only_metrics_tpt_exposes()
    {
        var stream = new YamlStream();
        using (var reader = File.OpenText(RulesPath))
        {
            stream.Load(reader);
        }

        var rules = ((YamlSequenceNode)((YamlMappingNode)stream.Documents[0].RootNode)["groups"]).Cast<YamlMappingNode>()
            .SelectMany(g => (YamlSequenceNode)g["rules"]).Cast<YamlMappingNode>()
            .Select(r => ($"alert {((YamlScalarNode)r["alert"]).Value}", ((YamlScalarNode)r["expr"]).Value!))
            .ToList();
        Assert.NotEmpty(rules);
        Assert.All(rules, r => Assert.NotEmpty(PromQlMetricNames.Of(r.Item2)));
        Assert.Empty(GrafanaDashboardTests.UnknownMetrics(rules));
    }
}
