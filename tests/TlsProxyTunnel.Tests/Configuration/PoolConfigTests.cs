using TlsProxyTunnel.Configuration;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

/// <summary><c>upstream.NAME.pool</c>: defaults, every key, and each mistake reported at its file, line and column.</summary>
public sealed class PoolConfigTests
{
    private static string WithPool(string pool, string upstreamExtra = "", string serverExtra = "") => $"""
        version: 2
        servers:
          web:
            listen: ["127.0.0.1:8443"]
            default: hub
        {serverExtra}
        upstream:
          hub:
            address: "tcp://hub.example.net:1443"
        {upstreamExtra}
            pool:
        {pool}
        """;

    [Fact]
    public void Defaults_are_ptws()
    {
        var pool = LoadOk(WithPool("      size: 25")).Upstreams["hub"].Pool!;
        Assert.Equal(25, pool.Size);
        Assert.Equal(TimeSpan.FromSeconds(30), pool.Ttl);
        Assert.Equal(TimeSpan.FromSeconds(5), pool.Backoff);
        Assert.Equal(TimeSpan.FromSeconds(15), pool.WaitTimeout);
        Assert.Equal(1000, pool.MaxWaiters);
        Assert.Equal(ServerFirstMode.Discard, pool.ServerFirst);
    }

    [Fact]
    public void Every_key_is_read()
    {
        var pool = LoadOk(WithPool("      size: 3\n      ttl: 4s\n      backoff: 250ms\n      wait_timeout: 2s\n      max_waiters: 7\n      server_first: keep")).Upstreams["hub"].Pool!;
        Assert.Equal(new PoolSettings { Size = 3, Ttl = TimeSpan.FromSeconds(4), Backoff = TimeSpan.FromMilliseconds(250), WaitTimeout = TimeSpan.FromSeconds(2), MaxWaiters = 7, ServerFirst = ServerFirstMode.Keep }.Describe(), pool.Describe());
    }

    [Fact]
    public void An_upstream_without_pool_has_none()
    {
        Assert.Null(LoadOk(WithServer("    default: hub", "upstream:\n  hub: \"tcp://hub.example.net:1443\"")).Upstreams["hub"].Pool);
    }

    [Theory]
    [InlineData("      size: 0", 12, 13, "'size' must be from 1 to 10000, got '0'")]
    [InlineData("      size: -3", 12, 13, "'size' must be from 1 to 10000")]
    [InlineData("      ttl: -5s", 12, 12, "'ttl' must be")]
    [InlineData("      ttl: 0s", 12, 12, "'ttl' must be longer than zero")]
    [InlineData("      backoff: 0ms", 12, 16, "'backoff' must be longer than zero")]
    [InlineData("      wait_timeout: 15", 12, 21, "bare number")]
    [InlineData("      max_waiters: -1", 12, 20, "'max_waiters' must be from 0 to 1000000")]
    [InlineData("      server_first: drop", 12, 21, "'server_first' must be one of discard, keep")]
    [InlineData("      sise: 3", 12, 7, "unknown key 'sise' in 'pool' of upstream 'hub'; did you mean 'size'?")]
    public void Mistakes_name_file_line_and_column(string pool, int line, int column, string message)
    {
        var error = SingleError(WithPool(pool));
        Assert.Equal(FileName, error.File);
        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Server_name_from_client_is_refused_because_the_handshake_precedes_the_client()
    {
        var error = SingleError(WithPool("      size: 2", upstreamExtra: "    tls:\n      server_name: from_client"));
        Assert.Equal((12, 5), (error.Line, error.Column));
        Assert.Contains("'tls.server_name: from_client'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_via_with_use_sni_as_target_is_refused_at_the_pool_key()
    {
        var error = SingleError(WithPool("      size: 2", serverExtra: "    via:\n      target: proxy.example.net:3128\n      use_sni_as_target: true"));
        Assert.Equal((13, 5), (error.Line, error.Column));
        Assert.Contains("'use_sni_as_target' ('default' of server 'web')", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_via_with_a_static_target_is_accepted()
    {
        Assert.NotNull(LoadOk(WithPool("      size: 2", serverExtra: "    via:\n      target: hub.example.net:1443")).Upstreams["hub"].Pool);
    }

    [Fact]
    public void The_proxy_protocol_hook_reports_before_tls_with_a_pool_at_the_pool_key()
    {
        var upstream = LoadOk(WithPool("      size: 2")).Upstreams["hub"];
        var diagnostics = new DiagnosticBag(FileName);
        PoolReader.CheckProxyProtocolBeforeTls(upstream, headerBeforeTls: true, diagnostics);
        PoolReader.CheckProxyProtocolBeforeTls(upstream with { Pool = null }, headerBeforeTls: true, diagnostics);
        PoolReader.CheckProxyProtocolBeforeTls(upstream, headerBeforeTls: false, diagnostics);
        var error = Assert.Single(diagnostics.Items);
        Assert.Equal((11, 5), (error.Line, error.Column));
        Assert.Contains("before_tls", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_pool_is_part_of_the_upstreams_key_so_a_changed_pool_is_a_new_state()
    {
        var a = LoadOk(WithPool("      size: 2")).Upstreams["hub"];
        var b = LoadOk(WithPool("      size: 2")).Upstreams["hub"];
        var c = LoadOk(WithPool("      size: 2\n      ttl: 10s")).Upstreams["hub"];
        Assert.Equal(TlsProxyTunnel.Upstreams.UpstreamKey.Of(a), TlsProxyTunnel.Upstreams.UpstreamKey.Of(b));
        Assert.NotEqual(TlsProxyTunnel.Upstreams.UpstreamKey.Of(a), TlsProxyTunnel.Upstreams.UpstreamKey.Of(c));
    }
}
