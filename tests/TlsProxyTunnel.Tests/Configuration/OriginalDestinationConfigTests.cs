using TlsProxyTunnel.Configuration;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

/// <summary><c>transparent: true</c> and <c>address: original_dst</c>: what loads, and what is refused with file:line:col.</summary>
public sealed class OriginalDestinationConfigTests
{
    [Fact]
    public void A_transparent_server_may_route_to_original_dst_in_either_upstream_form()
    {
        var config = LoadOk("""
            version: 2
            servers:
              lan:
                listen: ["0.0.0.0:57800"]
                transparent: true
                tls: true
                sni:
                  a.example: short
                default: long
            upstream:
              short: original_dst
              long: {address: original_dst, connect_timeout: 4s}
            """);

        Assert.True(config.Servers[0].Transparent);
        Assert.True(config.Upstreams["short"].ConnectsToOriginalDestination);
        Assert.Equal("original_dst", config.Upstreams["short"].Display);
        Assert.True(config.Upstreams["long"].ConnectsToOriginalDestination);
        Assert.Equal(TimeSpan.FromSeconds(4), config.Upstreams["long"].ConnectTimeout);
    }

    [Fact]
    public void Check_shows_a_transparent_server_and_an_original_dst_upstream()
    {
        var config = LoadOk("""
            version: 2
            servers:
              lan:
                listen: ["0.0.0.0:57800"]
                transparent: true
                default: dst
            upstream:
              dst: {address: original_dst, tls: {verify: chain}}
            """);
        var output = new StringWriter();
        ConfigSummary.Write(config, output);
        var text = output.ToString();

        Assert.Contains("  lan: tcp, transparent, maxclients 100", text, StringComparison.Ordinal);
        Assert.Contains("  dst: original_dst", text, StringComparison.Ordinal);
        Assert.Contains("tls: verify chain, server_name none (original_dst: an IP address, no SNI sent)", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true, false, false, true, null)]
    [InlineData(false, false, false, true, "has no original destination to give it")]
    [InlineData(false, true, false, true, "an open proxy")]
    [InlineData(true, true, false, true, "an open proxy")] // transparent does not make the headers trustworthy
    [InlineData(false, true, true, true, null)]
    [InlineData(true, false, false, false, "through a 'via'")]
    public void The_rules_for_original_dst_follow_where_the_destination_comes_from(bool netfilter, bool proxyHeaders, bool authenticated, bool direct, string? problem)
    {
        // PROXY headers are not read by this build yet (OriginalDestinationRules.FromProxyHeaders): the rules are checked directly.
        var use = new ConfigMapper.UpstreamReference("dst", new YamlDotNet.Core.Mark(0, 3, 5), "'default' of server 'lan'", "'dst'");
        var found = OriginalDestinationRules.Problem("lan", use, netfilter, proxyHeaders, authenticated, direct);
        if (problem is null)
        {
            Assert.Null(found);
        }
        else
        {
            Assert.NotNull(found);
            Assert.StartsWith("'default' of server 'lan' names upstream 'dst', whose address is original_dst", found, StringComparison.Ordinal);
            Assert.Contains(problem, found, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Transparent_defaults_to_off_and_must_be_a_boolean()
    {
        Assert.False(LoadOk(WithServer("    default: echo")).Servers[0].Transparent);
        var error = SingleError(WithServer("    transparent: sometimes"));
        Assert.Equal(6, error.Line);
        Assert.Contains("transparent", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Original_dst_on_a_server_without_an_original_destination_is_an_error_at_the_reference()
    {
        var error = SingleError("""
            version: 2
            servers:
              web:
                listen: ["127.0.0.1:8443"]
                tls: true
                sni:
                  a.example: dst
            upstream:
              dst: original_dst
            """);

        Assert.Equal("test.yaml:7:18: error: SNI route 'a.example' of server 'web' names upstream 'dst', whose address is original_dst, but server 'web' has no original destination to give it: set 'transparent: true' (netfilter NAT redirects clients to this server) or accept PROXY headers ('proxy_protocol: accept' or 'require')", error.ToString());
    }

    [Fact]
    public void Original_dst_is_checked_per_server_that_uses_it()
    {
        var errors = Load("""
            version: 2
            servers:
              lan:
                listen: ["127.0.0.1:8443"]
                transparent: true
                default: dst
              web:
                listen: ["127.0.0.1:8444"]
                default: dst
            upstream:
              dst: original_dst
            """).Errors.ToList();

        var error = Assert.Single(errors);
        Assert.Equal((9, 14), (error.Line, error.Column));
        Assert.Contains("'default' of server 'web'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Original_dst_through_a_via_is_an_error()
    {
        var error = SingleError("""
            version: 2
            servers:
              lan:
                listen: ["127.0.0.1:8443"]
                transparent: true
                via: {target: "hub.example:443"}
                default: dst
            upstream:
              dst: original_dst
            """);

        Assert.Equal(7, error.Line);
        Assert.Contains("through a 'via'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Original_dst_with_tls_needs_a_name_to_check_unless_only_the_chain_is_verified()
    {
        var error = SingleError("""
            version: 2
            servers:
              lan:
                listen: ["127.0.0.1:8443"]
                transparent: true
                default: dst
            upstream:
              dst:
                address: original_dst
                tls: {}
            """);
        Assert.Equal("test.yaml:10:5: error: upstream 'dst' connects to original_dst, which has no host name to check the certificate against: set 'tls.server_name' (or 'verify: chain')", error.ToString());

        LoadOk("""
            version: 2
            servers:
              lan:
                listen: ["127.0.0.1:8443"]
                transparent: true
                default: dst
            upstream:
              dst:
                address: original_dst
                tls: {server_name: hub.example}
            """);
    }
}
