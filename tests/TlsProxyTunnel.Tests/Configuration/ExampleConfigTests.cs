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

        // No environment at all, as for the file itself: every variable an example uses needs a default. Certificate
        // paths are relative to the file's directory, so the files an example names are made there first.
        using var certificates = ExampleCertificates(yaml);
        var result = ConfigLoader.LoadText(yaml, "config.yaml.example", _ => null, baseDirectory: certificates.Path);
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

    [Fact]
    public void TheTlsExamplesLoadTheirCertificatesFromBesideTheFile()
    {
        var yaml = CommentedExamples.Uncomment(CommentedExamples.Uncomment(ExampleText(), "originate_tls"), "terminate_tls");
        using var certificates = ExampleCertificates(yaml);
        var result = ConfigLoader.LoadText(yaml, "config.yaml.example", _ => null, baseDirectory: certificates.Path);
        Assert.Empty(result.Diagnostics);
        var config = result.Config!;

        var hub = config.Upstreams["hub"].Tls!;
        Assert.Equal(("hub.example.net", TlsVerifyMode.Full), (hub.ServerName, hub.Verify));
        Assert.Equal("CN=client", hub.ClientCertificate!.Subject);
        Assert.Equal("CN=ca", Assert.Single(hub.ExtraRoots).Subject);

        var inspect = config.Servers.Single(s => s.Name == "inspect").TerminateTls!;
        Assert.Equal("tls/server.pem", inspect.Default!.Display);
        Assert.Equal(("*.example.com", "CN=wild"), (inspect.Certificates.Single().Pattern, inspect.Certificates.Single().Certificate.Certificate.Subject));
        Assert.Equal(ClientCertificateMode.Optional, inspect.ClientCertificate);
        Assert.Equal(5 + 3, config.CertificateFiles.Count);
        Assert.All(config.CertificateFiles, f => Assert.StartsWith(Path.Combine(certificates.Path, "tls"), f, StringComparison.Ordinal));
    }

    /// <summary>A directory holding, for each <c>tls/NAME.pem</c> the text names, a certificate there and its key in <c>tls/NAME.key</c>.</summary>
    private static CertificateDirectory ExampleCertificates(string yaml)
    {
        var directory = new CertificateDirectory();
        var names = System.Text.RegularExpressions.Regex.Matches(yaml, @"\btls/([A-Za-z0-9_-]+)\.pem\b").Select(m => m.Groups[1].Value).Distinct();
        foreach (var name in names)
        {
            var (cert, key) = directory.SelfSigned(name, 30, name);
            Directory.CreateDirectory(directory.File("tls"));
            File.Move(cert, directory.File($"tls/{name}.pem"));
            File.Move(key, directory.File($"tls/{name}.key"));
        }

        return directory;
    }


    private static string ExampleText() => File.ReadAllText(Path.Combine(Repository.Root, "config.yaml.example"));
}
