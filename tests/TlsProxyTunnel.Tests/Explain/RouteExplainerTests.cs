using Microsoft.Extensions.Logging.Abstractions;
using Moq;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Explain;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Tests.Tls;
using TlsProxyTunnel.Upstreams.Health;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Explain;

public sealed class RouteExplainerTests
{
    private const string Routes = """
        version: 2
        servers:
          web:
            listen: ["127.0.0.1:8443"]
            tls: true
            client_hello_max_bytes: 512
            sni:
              api.example.test: backend
              "*.example.test": proxied
              "*.deep.example.test": echo
            default: ban
          plain:
            listen: ["127.0.0.1:8080"]
            default: echo
        upstream:
          backend: tcp://backend.internal:9000
          proxied: tcp://127.0.0.1:3128
        """;

    private static ServerExplanation Web(string yaml, ExplainInput input, Func<string, string?>? environment = null) =>
        RouteExplainer.Explain(LoadOk(yaml, environment), input).Servers.Single(s => s.Server.Name == "web");

    [Theory]
    [InlineData("api.example.test", "Exact", "api.example.test", "backend")]
    [InlineData("API.Example.TEST.", "Exact", "api.example.test", "backend")]
    [InlineData("a.example.test", "Wildcard", "*.example.test", "proxied")]
    [InlineData("x.deep.example.test", "Wildcard", "*.deep.example.test", "echo")]
    [InlineData("a.b.example.test", "Wildcard", "*.example.test", "proxied")]
    [InlineData("example.test", "Default", "default", "ban")]
    [InlineData("other.test", "Default", "default", "ban")]
    [InlineData("1.2.3.4", "Default", "default", "ban")]
    [InlineData("bad name", "Default", "default", "ban")]
    public void Names_take_the_rule_and_upstream_the_router_gives_them(string name, string match, string rule, string upstream)
    {
        var web = Web(Routes, ExplainInput.ForName(name));
        Assert.Equal(Enum.Parse<MatchKind>(match), web.Match);
        Assert.Equal(rule, web.Rule);
        Assert.Equal(upstream, web.Upstream!.Config!.Name);
    }

    [Fact]
    public void The_explanation_agrees_with_the_data_paths_own_route_choice_for_every_name_tried()
    {
        var config = LoadOk(Routes);
        var builder = new RuntimeSnapshotBuilder(new ProxyMetrics(), new ReadinessState(), Mock.Of<IHostResolver>(), NullLoggerFactory.Instance);
        var runtime = builder.Build(config, previous: null).Servers["web"];
        string[] names = ["api.example.test", "x.api.example.test", "example.test", "a.example.test", "deep.example.test", "x.deep.example.test", "y.x.deep.example.test", "EXAMPLE.TEST.", "nothing", "-", "a..b"];
        foreach (var name in names)
        {
            var explained = RouteExplainer.Explain(config, ExplainInput.ForName(name)).Servers.Single(s => s.Server.Name == "web");
            var taken = runtime.Select(explained.Reading!.Name);
            Assert.Equal(taken.Upstream.Name, explained.Upstream!.Config!.Name);
            Assert.Equal(taken.Name, explained.Rule);
        }
    }

    [Fact]
    public void Why_says_what_decided()
    {
        Assert.Equal("the sni key 'api.example.test' is the name itself", Web(Routes, ExplainInput.ForName("api.example.test")).Why);
        Assert.Equal("no sni key is the name itself, and '*.example.test' is the most specific wildcard that matches it", Web(Routes, ExplainInput.ForName("q.example.test")).Why);
        Assert.Equal("no sni key matches 'other.test': the default route", Web(Routes, ExplainInput.ForName("other.test")).Why);
        Assert.StartsWith("'1.2.3.4' is not a valid host name", Web(Routes, ExplainInput.ForName("1.2.3.4")).Why, StringComparison.Ordinal);
        Assert.Equal(HelloReadOutcome.InvalidSni, Web(Routes, ExplainInput.ForName("1.2.3.4")).Reading!.Outcome);
    }

    [Fact]
    public void A_server_without_tls_is_skipped_with_the_reason_and_its_default()
    {
        var plain = RouteExplainer.Explain(LoadOk(Routes), ExplainInput.ForName("api.example.test")).Servers.Single(s => s.Server.Name == "plain");
        Assert.Equal("'tls' is not true, so tpt reads no name on this server: every connection goes to default 'echo'", plain.Skipped);
        Assert.Null(plain.Reading);
    }

    [Fact]
    public void A_relay_server_is_skipped_it_routes_nothing()
    {
        var yaml = "version: 2\nservers:\n  relay:\n    kind: tls_relay\n    listen: [\"127.0.0.1:12000\"]\n    relay: {port_count: 2}\n";
        var relay = RouteExplainer.Explain(LoadOk(yaml), ExplainInput.ForName("api.example.test")).Servers.Single();
        Assert.Equal("kind tls_relay: tpt routes nothing on this server; its control connections all speak the relay protocol", relay.Skipped);
    }

    [Fact]
    public void Hellos_are_read_as_the_data_path_reads_them()
    {
        Assert.Equal(MatchKind.Exact, Web(Routes, ExplainInput.ForHello(ClientHelloBuilder.Browser("API.example.test").Build(), "h.bin")).Match);

        var noSni = Web(Routes, ExplainInput.ForHello(new ClientHelloBuilder().Build(), "h.bin"));
        Assert.Equal((HelloReadOutcome.NoSni, MatchKind.Default), (noSni.Reading!.Outcome, noSni.Match));
        Assert.Equal("the ClientHello carries no server name: the default route", noSni.Why);

        var notTls = Web(Routes, ExplainInput.ForHello("GET / HTTP/1.1\r\n\r\n"u8.ToArray(), "h.bin"));
        Assert.Equal((HelloReadOutcome.NotTls, MatchKind.Default), (notTls.Reading!.Outcome, notTls.Match));

        var invalid = Web(Routes, ExplainInput.ForHello(new ClientHelloBuilder().WithServerName("*.example.test").Build(), "h.bin"));
        Assert.Equal((HelloReadOutcome.InvalidSni, "*.example.test"), (invalid.Reading!.Outcome, invalid.Reading.RawName));

        var hello = ClientHelloBuilder.Browser("api.example.test").Build();
        var partial = Web(Routes, ExplainInput.ForHello(hello[..(hello.Length / 2)], "h.bin"));
        Assert.Equal(MatchKind.Closed, partial.Match);
        Assert.Contains("only part of a ClientHello", partial.Why, StringComparison.Ordinal);
        Assert.Null(partial.Upstream);
    }

    [Fact]
    public void A_hello_larger_than_the_servers_client_hello_max_bytes_is_closed_there()
    {
        var big = ClientHelloBuilder.Browser("api.example.test").WithExtension(ClientHelloBuilder.ExtPadding, new byte[600]).Build();
        var web = Web(Routes, ExplainInput.ForHello(big, "h.bin"));
        Assert.Equal((HelloReadOutcome.TooLarge, MatchKind.Closed), (web.Reading!.Outcome, web.Match));
        Assert.Equal("the ClientHello needs more than client_hello_max_bytes (512): the connection is closed", web.Why);

        // The heading reads it whole: the name is there, only this server has no room for it.
        Assert.Equal("api.example.test", RouteExplainer.Explain(LoadOk(Routes), ExplainInput.ForHello(big, "h.bin")).Reading.Name);
    }

    private const string Proxied = """
        version: 2
        servers:
          web:
            listen: ["127.0.0.1:8443"]
            tls: true
            sni:
              sni.example.test: proxy
              fixed.example.test:
                upstream: proxy
                via:
                  target: "${TARGET}"
                  headers:
                    X-Trace: "on"
                    X-Token: "${TOKEN}"
                    Proxy-Authorization: "Basic written-in-the-file"
            default: proxy
            via:
              use_sni_as_target: true
              target_port: 8443
              auth: {username: u, password: p}
        upstream:
          proxy: tcp://squid.internal:3128
        """;

    private static readonly Func<string, string?> ProxyEnv = Env(("TARGET", "inner.corp:443"), ("TOKEN", "s3cret-token"));

    [Fact]
    public void Use_sni_as_target_sends_the_normalised_name_and_the_credentials_are_hidden()
    {
        var via = Web(Proxied, ExplainInput.ForName("SNI.example.test"), ProxyEnv).Via!;
        Assert.Equal("CONNECT sni.example.test:8443 HTTP/1.1", via.RequestLine);
        Assert.Equal([new ShownHeader("Host", "sni.example.test:8443", false), new ShownHeader("Proxy-Authorization", "(hidden)", true)], via.Headers);
    }

    [Fact]
    public void A_target_and_header_values_from_the_environment_are_shown_as_written_or_hidden()
    {
        var via = Web(Proxied, ExplainInput.ForName("fixed.example.test"), ProxyEnv).Via!;
        Assert.Equal("CONNECT ${TARGET} HTTP/1.1", via.RequestLine);
        Assert.Equal(
            [
                new ShownHeader("Host", "${TARGET}", false),
                new ShownHeader("X-Trace", "on", false),
                new ShownHeader("X-Token", "(hidden)", true),
                new ShownHeader("Proxy-Authorization", "(hidden)", true),
            ],
            via.Headers);
    }

    [Fact]
    public void Use_sni_as_target_without_a_name_or_target_explains_that_the_connection_is_closed()
    {
        var web = Web(Proxied, ExplainInput.ForHello(new ClientHelloBuilder().Build(), "h.bin"), ProxyEnv);
        Assert.Null(web.Via!.RequestLine);
        Assert.Contains("no_target", web.Via.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void An_upstream_named_by_the_environment_is_not_described()
    {
        var yaml = WithServer("    tls: true\n    default: ${UPSTREAM}", "upstream:\n  secret: tcp://hidden.internal:1");
        var web = Web(yaml, ExplainInput.ForName("a.test"), Env(("UPSTREAM", "secret")));
        Assert.True(web.Upstream!.Hidden);
        Assert.Equal("${UPSTREAM}", web.Upstream.Written);
        Assert.Null(web.Via);
    }
}
