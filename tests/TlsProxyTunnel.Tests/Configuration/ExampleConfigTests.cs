using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Tests.Configuration;

public sealed class ExampleConfigTests
{
    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "TlsProxyTunnel.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("TlsProxyTunnel.sln not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void ExampleConfigLoadsWithNoDiagnosticsAndNoEnvironment()
    {
        var path = Path.Combine(RepositoryRoot(), "config.yaml.example");
        var result = ConfigLoader.Load(path, _ => null);
        Assert.True(result.Succeeded, string.Join(Environment.NewLine, result.Diagnostics));
        Assert.Empty(result.Diagnostics);
        var config = result.Config!;
        Assert.Equal(["tls_router", "echo_server", "health_server"], config.Servers.Select(s => s.Name));
        Assert.All(config.Servers.SelectMany(s => s.Listen), l => Assert.True(System.Net.IPAddress.IsLoopback(l.EndPoint.Address)));
        Assert.True(config.Servers[0].Via.IsDirect);
        Assert.Equal("health", config.Servers[2].Default);
    }

    [Fact]
    public void CommentedProxyExampleIsValidWhenUncommented()
    {
        var text = File.ReadAllText(Path.Combine(RepositoryRoot(), "config.yaml.example")).ReplaceLineEndings("\n");
        var start = text.IndexOf("  # through_proxy:", StringComparison.Ordinal);
        var uncommented = string.Join("\n", text[start..].Split('\n').Select(l => l.StartsWith("  # ", StringComparison.Ordinal) ? "  " + l[4..] : l));
        var yaml = text[..start] + uncommented + "\n";
        yaml = yaml.Replace("upstream:\n", "upstream:\n  example_com: tcp://www.example.com:443\n", StringComparison.Ordinal);
        var environment = new Dictionary<string, string> { ["PROXY_USER"] = "u", ["PROXY_PASSWORD"] = "p" };
        var result = ConfigLoader.LoadText(yaml, "example", n => environment.GetValueOrDefault(n));
        Assert.True(result.Succeeded, string.Join(Environment.NewLine, result.Diagnostics));
        Assert.Empty(result.Diagnostics);
        var via = result.Config!.Servers.Single(s => s.Name == "through_proxy").Via;
        Assert.Equal("proxy.corp.example:3128", via.Target);
        Assert.Equal(3, via.Headers.Count);
        Assert.True(via.Headers[2].Sensitive);
    }
}
