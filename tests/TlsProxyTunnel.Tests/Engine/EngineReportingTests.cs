using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Moq;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Engine;
using TlsProxyTunnel.Engine.Linux;
using TlsProxyTunnel.Explain;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Upstreams.Health;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Engine;

/// <summary>
/// Where the engine a server runs on is decided (the snapshot builder, from the process default it is given) and
/// where it is shown: <c>tpt_engine_info</c>, <c>tpt check</c> and <c>tpt explain</c>.
/// </summary>
public sealed class EngineReportingTests
{
    private const string Yaml = """
        version: 2
        servers:
          web:
            listen: ["127.0.0.1:0"]
            default: echo
          pinned:
            listen: ["127.0.0.1:0"]
            engine: sockets
            default: echo
          wg:
            protocol: udp
            listen: ["127.0.0.1:0"]
            default: tunnel
        upstream:
          tunnel: "udp://127.0.0.1:51820"
        """;

    private static RuntimeSnapshot Build(string yaml, EngineChoice processDefault, ProxyMetrics? metrics = null)
    {
        var builder = new RuntimeSnapshotBuilder(metrics ?? new ProxyMetrics(), new ReadinessState(), Mock.Of<IHostResolver>(), NullLoggerFactory.Instance, engine: processDefault);
        return builder.Build(LoadOk(yaml), previous: null);
    }

    [Fact]
    public void The_builder_gives_each_server_the_engine_the_process_default_and_its_key_resolve_to()
    {
        var snapshot = Build(Yaml, EngineChoice.Sockets);
        Assert.Equal(EngineKind.Sockets, snapshot.Servers["web"].Engine);
        Assert.Equal(EngineKind.Sockets, snapshot.Servers["pinned"].Engine);
        Assert.Equal(EngineKind.Sockets, snapshot.Servers["wg"].Engine);
    }

    [Fact]
    public void A_linux_process_default_reaches_servers_without_their_own_engine_but_not_udp_ones()
    {
        if (!LinuxEngine.IsSupported)
        {
            // TPT_ENGINE=linux is refused at start-up there (EngineEnvironmentTests); nothing to build.
            return;
        }

        var snapshot = Build(Yaml, EngineChoice.Linux);
        Assert.Equal(EngineKind.Linux, snapshot.Servers["web"].Engine);
        Assert.Equal(EngineKind.Sockets, snapshot.Servers["pinned"].Engine);
        Assert.Equal(EngineKind.Sockets, snapshot.Servers["wg"].Engine);
    }

    [Fact]
    public void Metrics_show_one_info_series_per_tcp_server_of_the_generation_in_use()
    {
        RuntimeSnapshot? current = null;
        using var metrics = new ProxyMetrics(new EngineMetrics(() => current));
        Assert.DoesNotContain("tpt_engine_info{", metrics.Render(), StringComparison.Ordinal);

        current = Build(Yaml, EngineChoice.Sockets, metrics);
        var rendered = metrics.Render();

        Assert.Contains("# TYPE tpt_engine_info gauge", rendered, StringComparison.Ordinal);
        Assert.Contains("tpt_engine_info{name=\"pinned\",engine=\"sockets\"} 1", rendered, StringComparison.Ordinal);
        Assert.Contains("tpt_engine_info{name=\"web\",engine=\"sockets\"} 1", rendered, StringComparison.Ordinal);
        Assert.DoesNotContain("tpt_engine_info{name=\"wg\"", rendered, StringComparison.Ordinal);

        if (LinuxEngine.IsSupported)
        {
            current = Build(Yaml, EngineChoice.Linux, metrics);
            Assert.Contains("tpt_engine_info{name=\"web\",engine=\"linux\"} 1", metrics.Render(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Check_shows_each_servers_engine()
    {
        using var output = new StringWriter();
        ConfigSummary.Write(LoadOk(Yaml), output, EngineChoice.Sockets);
        var text = output.ToString();

        Assert.Contains("  web: tcp, maxclients 100, engine sockets", text, StringComparison.Ordinal);
        Assert.Contains("  pinned: tcp, maxclients 100, engine sockets", text, StringComparison.Ordinal);
        Assert.Contains(text.Split('\n'), l => l.StartsWith("  wg: udp, max_sessions 1024, ", StringComparison.Ordinal) && l.TrimEnd().EndsWith(", engine sockets", StringComparison.Ordinal));
    }

    [Fact]
    public void Explain_shows_each_servers_engine_in_text_and_json()
    {
        var explanation = RouteExplainer.Explain(LoadOk(Yaml), ExplainInput.ForName("a.test"), EngineChoice.Sockets);
        Assert.All(explanation.Servers, s => Assert.Equal(EngineKind.Sockets, s.Engine));

        using var text = new StringWriter();
        ExplanationWriter.WriteText(explanation, new Dictionary<string, ResolveResult>(), text);
        Assert.Contains("server 'web' (tcp, listen 127.0.0.1:0, engine sockets): skipped", text.ToString(), StringComparison.Ordinal);

        using var buffer = new MemoryStream();
        ExplanationWriter.WriteJson(explanation, new Dictionary<string, ResolveResult>(), buffer);
        using var json = JsonDocument.Parse(buffer.ToArray());
        Assert.Equal("sockets", json.RootElement.GetProperty("servers")[0].GetProperty("engine").GetString());
    }
}
