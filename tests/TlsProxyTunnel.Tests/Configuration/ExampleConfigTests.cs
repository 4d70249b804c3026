using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Tests.Configuration;

public sealed class ExampleConfigTests
{

    [Fact]
    public void Example_config_loads_with_no_diagnostics_and_no_environment()
    {
        var path = Path.Combine(Repository.Root, "config.yaml.example");
        var result = ConfigLoader.Load(path, _ => null);
        Assert.True(result.Succeeded, string.Join(Environment.NewLine, result.Diagnostics));
        Assert.Empty(result.Diagnostics);
        var config = result.Config!;
        Assert.Equal(["tls_router", "echo_server", "health_server"], config.Servers.Select(s => s.Name));
        Assert.All(config.Servers.SelectMany(s => s.Listen), l => Assert.True(System.Net.IPAddress.IsLoopback(l.EndPoint.Address)));
        Assert.True(config.Servers[0].Via.IsDirect);
        Assert.Equal("health", config.Servers[2].Default);
    }

    public static TheoryData<string> CommentedOutExamples() => new(CommentedExamples.Names(ExampleText()));

    [Fact]
    public void The_example_file_has_commented_out_examples()
    {
        Assert.Contains("through_proxy", CommentedExamples.Names(ExampleText()));
    }

    [Theory]
    [MemberData(nameof(CommentedOutExamples))]
    public void Each_commented_out_example_loads_without_errors_when_uncommented(string example)
    {
        var text = ExampleText();
        var yaml = CommentedExamples.Uncomment(text, example);
        Assert.NotEqual(text.ReplaceLineEndings("\n"), yaml);

        // No environment at all, as for the file itself: every variable an example uses needs a default.
        var result = ConfigLoader.LoadText(yaml, "config.yaml.example", _ => null);
        Assert.True(result.Succeeded, $"example '{example}' uncommented:\n" + string.Join(Environment.NewLine, result.Diagnostics));
        Assert.Empty(result.Errors);
    }

    [Fact]
    public void The_proxy_example_connects_to_its_proxy_upstream_and_sends_credentials_only_when_given()
    {
        var yaml = CommentedExamples.Uncomment(ExampleText(), "through_proxy");

        var without = ConfigLoader.LoadText(yaml, "config.yaml.example", _ => null);
        Assert.Empty(without.Diagnostics);
        var server = without.Config!.Servers.Single(s => s.Name == "through_proxy");
        Assert.Equal("corp_proxy", server.Sni.Single().Upstream);
        Assert.Equal("www.example.com:443", server.Via.Target);
        Assert.DoesNotContain(server.Via.Headers, h => h.Name == "Proxy-Authorization");

        var environment = new Dictionary<string, string> { ["PROXY_AUTH"] = "Basic dXNlcjpwYXNz" };
        var with = ConfigLoader.LoadText(yaml, "config.yaml.example", n => environment.GetValueOrDefault(n));
        var header = with.Config!.Servers.Single(s => s.Name == "through_proxy").Via.Headers.Single(h => h.Name == "Proxy-Authorization");
        Assert.True(header is { Value: "Basic dXNlcjpwYXNz", Sensitive: true });
    }

    private static string ExampleText() => File.ReadAllText(Path.Combine(Repository.Root, "config.yaml.example"));
}
