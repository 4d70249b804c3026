using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Moq;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Diagnostics.Status;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Upstreams.Health;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Diagnostics.Status;

public sealed class StatusCollectorTests
{
    // The same configuration and secrets as ConfigSummaryTests: the page follows tpt check's rule.
    private const string Yaml = """
        version: 2
        upstream:
          backend: tcp://${BACKEND_HOST}:443
        servers:
          "web <b>&amp;</b>":
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
              "a.example": backend
              b.example: {upstream: echo, via: {}}
            default: ban
          health:
            listen: ["127.0.0.1:9000"]
            default: health
        """;

    private static readonly string[] Secrets = ["hidden-backend", "hidden-proxy", "t0ken-value", "pa55word", "Basic ", "visible-value", "bob"];

    private static (StatusCollector Collector, ProxyMetrics Metrics, RuntimeSnapshot Snapshot, FakeTimeProvider Time) Build()
    {
        var config = LoadOk(Yaml, Env(("BACKEND_HOST", "hidden-backend"), ("PROXY", "hidden-proxy:3128"), ("TOKEN", "t0ken-value"), ("PASSWORD", "pa55word")));
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 29, 12, 0, 0, TimeSpan.Zero));
        var metrics = new ProxyMetrics { Time = time };
        var readiness = new ReadinessState();
        readiness.MarkReady();
        // Three generations, as after two reloads: the page must show the one in use.
        var builder = new RuntimeSnapshotBuilder(metrics, readiness, Mock.Of<IHostResolver>(), NullLoggerFactory.Instance);
        var snapshot = builder.Build(config, builder.Build(config, builder.Build(config, previous: null)));
        foreach (var server in config.Servers)
        {
            foreach (var listen in server.Listen)
            {
                metrics.Listener(server.Name, listen.Text, snapshot.Servers[server.Name].ConnectionLimit);
            }
        }

        var collector = new StatusCollector(metrics, readiness, () => snapshot, dns: null, time);
        return (collector, metrics, snapshot, time);
    }

    [Fact]
    public void Nothing_expanded_from_the_environment_and_no_header_reaches_the_page()
    {
        var (collector, _, _, _) = Build();
        using (collector)
        {
            var model = collector.Collect();
            var html = StatusHtmlWriter.Write(model);
            var json = Encoding.UTF8.GetString(StatusJsonWriter.Write(model));
            foreach (var page in new[] { html, json })
            {
                foreach (var secret in Secrets)
                {
                    Assert.DoesNotContain(secret, page, StringComparison.Ordinal);
                }
            }

            // What it shows instead is the text as written, as tpt check shows it.
            Assert.Contains("tcp://${BACKEND_HOST}:443", json, StringComparison.Ordinal);
            Assert.Contains("CONNECT ${PROXY}", json, StringComparison.Ordinal);
            Assert.Contains("${LISTEN:-127.0.0.1:8443}", json, StringComparison.Ordinal);
            Assert.Contains("tcp://${BACKEND_HOST}:443", html, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_server_name_with_markup_is_escaped_on_the_page()
    {
        var (collector, _, _, _) = Build();
        using (collector)
        {
            var html = StatusHtmlWriter.Write(collector.Collect());
            Assert.DoesNotContain("<b>", html, StringComparison.Ordinal);
            Assert.Contains("web &lt;b&gt;&amp;amp;&lt;/b&gt;", html, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Counts_come_from_the_metrics_and_rates_from_the_samples()
    {
        var (collector, metrics, snapshot, time) = Build();
        using (collector)
        {
            var web = snapshot.Servers["web <b>&amp;</b>"];
            for (var i = 0; i < 30; i++)
            {
                web.Metrics.OnAccepted();
            }

            web.Metrics.OnRejected();
            web.Metrics.OnClosed(ConnectionOutcome.UpstreamError, 10, 20, TimeSpan.FromSeconds(1));
            web.Routes[0].Metrics.OnTaken();
            web.Routes[0].Metrics.OnTaken();
            metrics.Upstream("backend").OnConnectFailed();
            metrics.OnConnectStatus(407);
            metrics.OnConnectFailure("timeout");
            metrics.OnReload(false);
            metrics.Listener(web.Name, "${LISTEN:-127.0.0.1:8443}", 7).Enter();
            time.Advance(TimeSpan.FromSeconds(10));

            using var document = JsonDocument.Parse(StatusJsonWriter.Write(collector.Collect()));
            var root = document.RootElement;
            var process = root.GetProperty("process");
            Assert.Equal(3, process.GetProperty("config_generation").GetInt64());
            Assert.Equal(1, process.GetProperty("reloads_failed").GetInt64());
            Assert.StartsWith("failure", process.GetProperty("last_reload_result").GetString(), StringComparison.Ordinal);
            Assert.Equal("2026-11-29T12:00:00Z", process.GetProperty("last_reload_at").GetString());
            Assert.Equal(10, process.GetProperty("uptime_seconds").GetDouble());

            var server = root.GetProperty("servers").GetProperty("rows")[0];
            Assert.Equal("web <b>&amp;</b>", server.GetProperty("name").GetString());
            Assert.Equal(1, server.GetProperty("active").GetInt64());
            Assert.Equal(7, server.GetProperty("max").GetInt64());
            Assert.Equal(30, server.GetProperty("accepted").GetInt64());
            Assert.Equal(3.0, server.GetProperty("accepted_per_second_10s").GetDouble());
            Assert.Equal(JsonValueKind.Null, server.GetProperty("accepted_per_second_60s").ValueKind);
            Assert.Equal(1, server.GetProperty("rejected").GetInt64());
            Assert.Equal(1, server.GetProperty("errored").GetInt64());
            var health = root.GetProperty("servers").GetProperty("rows")[1];
            Assert.Equal("probes", health.GetProperty("mode").GetString());
            Assert.Equal(ProbeServers.ConnectionLimit, health.GetProperty("max").GetInt32());

            var routes = root.GetProperty("routes").GetProperty("rows").EnumerateArray().ToList();
            Assert.Equal(["a.example", "b.example", "default", "default"], routes.Select(r => r.GetProperty("route").GetString()));
            Assert.Equal(2, routes[0].GetProperty("connections").GetInt64());
            Assert.Equal("backend", routes[0].GetProperty("upstream").GetString());
            Assert.Equal("CONNECT ${PROXY}", routes[0].GetProperty("via").GetString());
            Assert.Equal("-", routes[1].GetProperty("via").GetString());

            var upstream = root.GetProperty("upstreams").GetProperty("rows")[0];
            Assert.Equal(1, upstream.GetProperty("connect_failures").GetInt64());

            var connect = root.GetProperty("connect").GetProperty("rows").EnumerateArray().Select(r => (r.GetProperty("kind").GetString(), r.GetProperty("outcome").GetString(), r.GetProperty("count").GetInt64()));
            Assert.Equal([("response", "407", 1L), ("failure", "timeout", 1L)], connect);
        }
    }

    [Fact]
    public void A_feature_adds_a_section_without_touching_the_writers()
    {
        var (collector, _, _, _) = Build();
        using (collector)
        {
            collector.Sections.Add(_ => new StatusSection("pools", "Pools") { Columns = [new("name", "Pool")], Rows = [[StatusValue.Of("p1")]] });
            collector.Sections.Add(_ => null);
            var model = collector.Collect();
            Assert.Equal("pools", model.Sections[^1].Key);
            Assert.Contains("<section id=\"pools\">", StatusHtmlWriter.Write(model), StringComparison.Ordinal);
        }
    }
}
