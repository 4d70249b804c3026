using System.Net;
using System.Text.Json;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Explain;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Explain;

public sealed class ExplanationWriterTests
{
    private const string Yaml = """
        version: 2
        servers:
          web:
            listen: ["127.0.0.1:0"]
            tls: true
            sni:
              "*.example.test": proxy
            default: ban
            via:
              use_sni_as_target: true
              headers: {X-Token: "${TOKEN}", X-Plain: "visible"}
          plain:
            listen: ["127.0.0.1:0"]
            default: echo
        upstream:
          proxy: tcp://squid.internal:3128
        """;

    private static readonly Dictionary<string, ResolveResult> Resolved = new()
    {
        ["proxy"] = ResolveResult.Success([IPAddress.Parse("10.0.0.7"), IPAddress.Parse("2001:db8::7")]),
    };

    private static Explanation Explain(string name) =>
        RouteExplainer.Explain(LoadOk(Yaml, Env(("TOKEN", "s3cret-token"))), ExplainInput.ForName(name), TlsProxyTunnel.Configuration.EngineChoice.Sockets);

    [Fact]
    public void Text_shows_the_rule_the_upstream_its_addresses_and_the_masked_request()
    {
        using var output = new StringWriter();
        ExplanationWriter.WriteText(Explain("A.Example.Test"), Resolved, output);

        Assert.Equal(
            """
            name 'A.Example.Test' -> a.example.test
            server 'web' (tls, listen 127.0.0.1:0, engine sockets):
              rule: wildcard '*.example.test': no sni key is the name itself, and '*.example.test' is the most specific wildcard that matches it
              upstream: 'proxy' tcp://squid.internal:3128 (the proxy: tpt connects here and sends CONNECT)
              addresses: 10.0.0.7, 2001:db8::7
              via: CONNECT request:
                CONNECT a.example.test:443 HTTP/1.1
                Host: a.example.test:443
                X-Token: (hidden)
                X-Plain: visible
            server 'plain' (tcp, listen 127.0.0.1:0, engine sockets): skipped: 'tls' is not true, so tpt reads no name on this server: every connection goes to default 'echo'

            """.ReplaceLineEndings(output.NewLine),
            output.ToString());
    }

    [Fact]
    public void Text_escapes_control_characters_in_the_name_given()
    {
        using var output = new StringWriter();
        ExplanationWriter.WriteText(Explain("evil\u001b[31m.test"), Resolved, output);
        Assert.DoesNotContain("\u001b", output.ToString(), StringComparison.Ordinal);
        Assert.Contains(@"evil\x1b[31m.test", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Json_carries_the_same_facts_for_scripts()
    {
        using var buffer = new MemoryStream();
        ExplanationWriter.WriteJson(Explain("a.example.test"), Resolved, buffer);
        buffer.Position = 0;
        using var json = JsonDocument.Parse(buffer);
        var root = json.RootElement;

        Assert.Equal("name", root.GetProperty("input").GetProperty("kind").GetString());
        Assert.Equal("a.example.test", root.GetProperty("input").GetProperty("normalized").GetString());
        var web = root.GetProperty("servers")[0];
        Assert.Equal("wildcard", web.GetProperty("match").GetString());
        Assert.Equal("sockets", web.GetProperty("engine").GetString());
        Assert.Equal("*.example.test", web.GetProperty("rule").GetString());
        Assert.Equal(["10.0.0.7", "2001:db8::7"], web.GetProperty("upstream").GetProperty("addresses").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal("CONNECT a.example.test:443 HTTP/1.1", web.GetProperty("via").GetProperty("request_line").GetString());
        var token = web.GetProperty("via").GetProperty("headers")[1];
        Assert.Equal(("X-Token", "(hidden)", true), (token.GetProperty("name").GetString(), token.GetProperty("value").GetString(), token.GetProperty("hidden").GetBoolean()));
        Assert.DoesNotContain("s3cret", System.Text.Encoding.UTF8.GetString(buffer.ToArray()), StringComparison.Ordinal);

        var plain = root.GetProperty("servers")[1];
        Assert.False(plain.GetProperty("tls").GetBoolean());
        Assert.StartsWith("'tls' is not true", plain.GetProperty("skipped").GetString(), StringComparison.Ordinal);
    }
}
