using TlsProxyTunnel.Configuration;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

public sealed class ConfigSummaryTests
{
    [Fact]
    public void Summary_shows_written_forms_and_redacts_secrets()
    {
        const string yaml = """
            version: 2
            upstream:
              backend: tcp://${BACKEND_HOST}:443
            servers:
              web:
                listen: ["${LISTEN:-127.0.0.1:8443}"]
                tls: true
                maxclients: 7
                via:
                  target: ${PROXY}
                  headers:
                    X-Plain: visible-value
                    X-Secret: $TOKEN
                  auth: {username: bob, password: $PASSWORD}
                sni:
                  a.example: backend
                  b.example: {upstream: echo, via: {}}
                default: ban
            """;
        var config = LoadOk(yaml, Env(("BACKEND_HOST", "hidden-backend"), ("PROXY", "hidden-proxy:3128"), ("TOKEN", "t0ken-value"), ("PASSWORD", "pa55word")));
        var output = new StringWriter();
        ConfigSummary.Write(config, output);
        var text = output.ToString();

        Assert.Contains("web: tls, maxclients 7", text, StringComparison.Ordinal);
        Assert.Contains("listen: ${LISTEN:-127.0.0.1:8443}", text, StringComparison.Ordinal);
        Assert.Contains("sni a.example -> backend", text, StringComparison.Ordinal);
        Assert.Contains("sni b.example -> echo [via direct]", text, StringComparison.Ordinal);
        Assert.Contains("default -> ban", text, StringComparison.Ordinal);
        Assert.Contains("backend: tcp://${BACKEND_HOST}:443", text, StringComparison.Ordinal);
        Assert.Contains("CONNECT ${PROXY}", text, StringComparison.Ordinal);
        Assert.Contains("X-Plain: visible-value", text, StringComparison.Ordinal);
        Assert.Contains("X-Secret: <redacted>", text, StringComparison.Ordinal);
        Assert.Contains("Proxy-Authorization: <redacted>", text, StringComparison.Ordinal);
        foreach (var secret in new[] { "hidden-backend", "hidden-proxy", "t0ken-value", "pa55word", "Basic " })
        {
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_health_server_shows_the_limit_it_runs_under_not_the_maxclients_it_ignores()
    {
        const string yaml = """
            version: 2
            servers:
              probes:
                listen: ["127.0.0.1:0"]
                maxclients: 1
                default: health
              web:
                listen: ["127.0.0.1:0"]
                maxclients: 1
                default: echo
            """;
        var output = new StringWriter();
        ConfigSummary.Write(LoadOk(yaml), output);
        var text = output.ToString();

        Assert.Contains("probes: tcp, health server: up to 256 connections, maxclients (1) not applied", text, StringComparison.Ordinal);
        Assert.Contains("web: tcp, maxclients 1", text, StringComparison.Ordinal);
    }
}
