using TlsProxyTunnel.IntegrationTests.Packaging;
using YamlDotNet.RepresentationModel;

namespace TlsProxyTunnel.IntegrationTests.Monitoring;

/// <summary>deploy/prometheus/alerts.yaml is valid, and its unit tests (alerts.test.yaml) pass and pin every alert.</summary>
public sealed class PromtoolRulesTests
{
    private static readonly string Directory = Path.Combine(Repository.Root, "deploy", "prometheus");

    private static string Rules => Path.Combine(Directory, "alerts.yaml");

    private static string RuleTests => Path.Combine(Directory, "alerts.test.yaml");

    [Fact]
    public async Task Promtool_check_rules_passes()
    {
        var (exit, output) = await Promtool.RunAsync(["check", "rules", Rules]);
        Assert.True(exit == 0, output);
        Assert.Contains($"SUCCESS: {AlertNames(Rules).Count} rules found", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Promtool_test_rules_passes()
    {
        var (exit, output) = await Promtool.RunAsync(["test", "rules", RuleTests]);
        Assert.True(exit == 0, output);
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_alert_is_tested_firing_and_not_firing()
    {
        var tests = ((YamlMappingNode)Load(RuleTests).Documents[0].RootNode)["tests"];
        var evaluations = ((YamlSequenceNode)tests).Cast<YamlMappingNode>()
            .SelectMany(t => (YamlSequenceNode)t["alert_rule_test"]).Cast<YamlMappingNode>()
            .Select(e => (Alert: ((YamlScalarNode)e["alertname"]).Value!, Fires: ((YamlSequenceNode)e["exp_alerts"]).Children.Count > 0))
            .ToList();
        foreach (var alert in AlertNames(Rules))
        {
            Assert.True(evaluations.Contains((alert, true)), $"{alert} is never expected to fire in alerts.test.yaml");
            Assert.True(evaluations.Contains((alert, false)), $"{alert} is never expected to stay quiet in alerts.test.yaml");
        }
    }

    [Fact]
    public async Task Without_any_one_alert_the_unit_tests_fail()
    {
        // The unit tests must notice an alert going missing, so a test expecting it to fire cannot be vacuous.
        var scratch = Path.Combine(Path.GetTempPath(), $"tpt-rules-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(scratch);
        try
        {
            File.Copy(RuleTests, Path.Combine(scratch, "alerts.test.yaml"));
            foreach (var alert in AlertNames(Rules))
            {
                var stream = Load(Rules);
                foreach (var group in (YamlSequenceNode)((YamlMappingNode)stream.Documents[0].RootNode)["groups"])
                {
                    var rules = (YamlSequenceNode)((YamlMappingNode)group)["rules"];
                    rules.Children.Remove(rules.Children.Cast<YamlMappingNode>().Single(r => Name(r) == alert));
                }

                await using (var writer = new StreamWriter(Path.Combine(scratch, "alerts.yaml")))
                {
                    stream.Save(writer, assignAnchors: false);
                }

                var (exit, output) = await Promtool.RunAsync(["test", "rules", Path.Combine(scratch, "alerts.test.yaml")]);
                Assert.True(exit != 0, $"promtool test rules passed with {alert} removed:\n{output}");
                Assert.Contains($"alertname: {alert}", output, StringComparison.Ordinal);
            }
        }
        finally
        {
            System.IO.Directory.Delete(scratch, recursive: true);
        }
    }

    private static List<string> AlertNames(string path) =>
        ((YamlSequenceNode)((YamlMappingNode)Load(path).Documents[0].RootNode)["groups"]).Cast<YamlMappingNode>()
            .SelectMany(g => (YamlSequenceNode)g["rules"]).Cast<YamlMappingNode>()
            .Select(Name).ToList();

    private static string Name(YamlMappingNode rule) => ((YamlScalarNode)rule["alert"]).Value!;

    private static YamlStream Load(string path)
    {
        var stream = new YamlStream();
        using var reader = File.OpenText(path);
        stream.Load(reader);
        return stream;
    }
}
