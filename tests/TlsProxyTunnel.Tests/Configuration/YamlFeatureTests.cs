using TlsProxyTunnel.Configuration;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

public sealed class YamlFeatureTests
{
    /// <summary>The shape of tls-proxy-tunnel's shipped container config.</summary>
    private const string TlsProxyTunnelExample = """
        version: 2
        log: info

        via: &viaanchor
          target: "proxy.corp.example:3128"
          headers:
            Proxy-Authorization: "Basic ${ENCODED_PW}"
            Proxy-KeepAlive: true

        upstream:
          web: "tcp://www.example.com:443"
          other: "tcp://other.example.com:443"

        servers:
          https_server:
            listen: ["0.0.0.0:8443"]
            protocol: tcp
            tls: true
            via: *viaanchor
            sni:
              www.example.com: web
              other.example.com:
                upstream: other
                via: {}
            default: ban
            maxclients: 200

          health_server:
            listen: ["0.0.0.0:8080"]
            protocol: tcp
            via: *viaanchor
            maxclients: 10
            default: health
        """;

    [Fact]
    public void Tls_proxy_tunnels_own_example_shape_loads()
    {
        var config = LoadOk(TlsProxyTunnelExample, Env(("ENCODED_PW", "dXNlcjpwdw==")));
        var https = config.Servers[0];
        Assert.Equal("proxy.corp.example:3128", https.Via.Target);
        Assert.Equal(
            [new ProxyHeader("Proxy-Authorization", "Basic dXNlcjpwdw==", true), new ProxyHeader("Proxy-KeepAlive", "true", false)],
            https.Via.Headers);
        Assert.Null(https.Sni[0].Via);
        Assert.True(https.Sni[1].Via!.IsDirect);
        Assert.Equal(200, https.MaxClients);
        var health = config.Servers[1];
        Assert.Equal("health", health.Default);
        Assert.Same(https.Via, health.Via);
    }

    [Fact]
    public void Tls_proxy_tunnels_example_without_the_password_names_the_variable()
    {
        var error = SingleError(TlsProxyTunnelExample);
        Assert.Equal("test.yaml:7:26: error: environment variable 'ENCODED_PW' is not set (write ${ENCODED_PW:-default} to give a default)", error.ToString());
    }

    [Fact]
    public void Per_SNI_via_inherits_the_servers_via_through_a_merge_key()
    {
        const string yaml = """
            version: 2
            upstream:
              u: tcp://u.example:443
            servers:
              web:
                listen: ["127.0.0.1:8443"]
                tls: true
                via: &base
                  target: proxy:3128
                  connect_timeout: 5s
                  headers: {X-Team: blue}
                sni:
                  a.example:
                    upstream: u
                    via:
                      <<: *base
                      target: other-proxy:3128
                default: u
            """;
        var server = LoadOk(yaml).Servers[0];
        var via = server.Sni[0].Via!;
        Assert.Equal("other-proxy:3128", via.Target);
        Assert.Equal(TimeSpan.FromSeconds(5), via.ConnectTimeout);
        Assert.Equal(server.Via.Headers, via.Headers);
        Assert.Equal("proxy:3128", server.Via.Target);
    }

    [Fact]
    public void Merge_key_list_earlier_sources_win()
    {
        const string yaml = """
            version: 2
            x: &a {maxclients: 1, tls: true}
            """;
        Assert.Contains("unknown key 'x'", SingleError(yaml + "\nservers: {w: {listen: ['127.0.0.1:1']}}").Message, StringComparison.Ordinal);

        const string merged = """
            version: 2
            via: &a {target: "a:1", target_port: 1}
            servers:
              w:
                listen: ['127.0.0.1:1']
                via:
                  <<: [*a, {target: "b:2", target_port: 2, use_sni_as_target: true}]
                  target_port: 3
            """;
        var via = LoadOk(merged).Servers[0].Via;
        Assert.Equal("a:1", via.Target);
        Assert.Equal(3, via.TargetPort);
        Assert.True(via.UseSniAsTarget);
    }

    [Fact]
    public void Bad_merge_value_and_unknown_alias_are_errors()
    {
        Assert.Contains("merge key '<<'", SingleError(WithServer("    via:\n      <<: notamap")).Message, StringComparison.Ordinal);
        Assert.Contains("alias '*nope'", SingleError(WithServer("    via: *nope")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Errors_inside_an_anchor_are_reported_once_at_the_anchor()
    {
        const string yaml = """
            version: 2
            via: &v
              target_prot: 1
            servers:
              a: {listen: ['127.0.0.1:1'], via: *v}
              b: {listen: ['127.0.0.1:2'], via: *v}
            """;
        Assert.Equal("test.yaml:3:3: error: unknown key 'target_prot' in the top-level 'via'; did you mean 'target_port'?", SingleError(yaml).ToString());
    }

    [Fact]
    public void Random_and_truncated_documents_never_throw()
    {
        var random = new Random(20240601);
        var source = TlsProxyTunnelExample;
        const string alphabet = "abc:-[]{}&*!|>'\"#%@`,?$\\\n\t <<0123456789";
        for (var i = 0; i < 3000; i++)
        {
            string text;
            if (i % 3 == 0)
            {
                text = source[..random.Next(source.Length)];
            }
            else
            {
                var chars = source.ToCharArray();
                for (var k = random.Next(1, 8); k > 0; k--)
                {
                    chars[random.Next(chars.Length)] = alphabet[random.Next(alphabet.Length)];
                }

                text = new string(chars);
                if (i % 5 == 0)
                {
                    text = new string(Enumerable.Range(0, random.Next(200)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
                }
            }

            var result = ConfigLoader.LoadText(text, "fuzz.yaml", Env(("ENCODED_PW", "x")));
            Assert.Equal(result.Succeeded, !result.Errors.Any());
            Assert.All(result.Diagnostics, d => Assert.Equal("fuzz.yaml", d.File));
        }
    }

    [Fact]
    public void Deep_nesting_does_not_overflow_the_stack()
    {
        var yaml = "version: 2\nservers: " + new string('[', 20000) + new string(']', 20000);
        var result = Load(yaml);
        Assert.False(result.Succeeded);
    }

    /// <summary>YamlDotNet reported these at the enclosing node (1:1, or the last scalar) or with an internal error.</summary>
    [Theory]
    [InlineData("version: 2\n\n\n\n\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n\tmaxclients: 5\n    default: echo\n", 9, 1)]
    [InlineData("version: 2\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n    default: echo\n\n\n\n  \tmaxclients: 5\n", 9, 3)]
    [InlineData("version: 2\nservers:\n  web:\n    default: echo\n    listen:\n      - \"127.0.0.1:0\"\n\n\n\t- x\n", 9, 1)]
    [InlineData("version: 2\nservers:\n  web:\n    default: echo\n    listen:\n      - \"127.0.0.1:0\"\n\n\n\tmaxclients: 5\n", 9, 1)]
    public void A_tab_in_the_indentation_is_reported_where_it_is(string yaml, int line, int column)
    {
        var error = SingleError(yaml);
        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.Contains("tab", error.Message, StringComparison.Ordinal);
    }
}
