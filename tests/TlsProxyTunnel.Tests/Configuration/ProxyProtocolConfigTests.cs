using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.ProxyProtocol;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

/// <summary>Server <c>proxy_protocol: accept | require</c>, upstream <c>proxy_protocol: v1 | v2</c> and its placement.</summary>
public sealed class ProxyProtocolConfigTests
{
    private static string Upstream(string body, string address = "tcp://hub.test:1443") =>
        $"version: 2\nupstream:\n  hub:\n    address: {address}\n{body}\nservers:\n  web:\n    listen: [\"127.0.0.1:8443\"]\n    default: hub\n";

    [Fact]
    public void Off_by_default_on_servers_and_upstreams()
    {
        var config = LoadOk(Upstream("    connect_timeout: 4s"));
        Assert.Equal(ProxyProtocolAccept.Off, config.Servers[0].ProxyProtocol);
        Assert.Null(config.Upstreams["hub"].ProxyProtocol);
    }

    [Theory]
    [InlineData("accept", "Accept")]
    [InlineData("require", "Require")]
    [InlineData("off", "Off")]
    public void A_server_accepts_or_requires_a_header(string value, string expected) =>
        Assert.Equal(Enum.Parse<ProxyProtocolAccept>(expected), LoadOk(WithServer($"    proxy_protocol: {value}")).Servers[0].ProxyProtocol);

    [Fact]
    public void The_placement_defaults_to_inside_tls_with_tls_and_before_tls_without()
    {
        var plain = LoadOk(Upstream("    proxy_protocol: v1")).Upstreams["hub"];
        Assert.Equal((ProxyProtocolVersion.V1, ProxyProtocolPlacement.BeforeTls), (plain.ProxyProtocol!.Value, plain.ProxyProtocolPlacement));

        var tls = LoadOk(Upstream("    proxy_protocol: v2\n    tls: {verify: none}")).Upstreams["hub"];
        Assert.Equal((ProxyProtocolVersion.V2, ProxyProtocolPlacement.InsideTls), (tls.ProxyProtocol!.Value, tls.ProxyProtocolPlacement));

        var before = LoadOk(Upstream("    proxy_protocol: v2\n    proxy_protocol_placement: before_tls\n    tls: {verify: none}")).Upstreams["hub"];
        Assert.Equal(ProxyProtocolPlacement.BeforeTls, before.ProxyProtocolPlacement);
    }

    public static TheoryData<string, string, int, int, string> Errors => new()
    {
        { "server value", WithServer("    proxy_protocol: yes"), 6, 21, "'proxy_protocol' must be one of accept, require, off, got 'yes'" },
        { "server misspelt", WithServer("    proxy_protocol: requir"), 6, 21, "did you mean 'require'?" },
        { "upstream version", Upstream("    proxy_protocol: v3"), 5, 21, "'proxy_protocol' must be one of v1, v2, got 'v3'" },
        { "upstream placement", Upstream("    proxy_protocol: v1\n    proxy_protocol_placement: inside"), 6, 31, "'proxy_protocol_placement' must be one of inside_tls, before_tls, got 'inside'" },
        { "inside without tls", Upstream("    proxy_protocol: v1\n    proxy_protocol_placement: inside_tls"), 6, 31, "'proxy_protocol_placement: inside_tls' of upstream 'hub' needs 'tls'" },
        { "misspelt key", Upstream("    proxy_protocl: v1"), 5, 5, "did you mean 'proxy_protocol'?" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Each_mistake_is_one_error_at_its_value(string what, string yaml, int line, int column, string message)
    {
        var error = SingleError(yaml);
        Assert.True(error.Message.Contains(message, StringComparison.Ordinal), $"{what}: {error}");
        Assert.True(error.Line == line && error.Column == column, $"{what}: expected {line}:{column}, got {error}");
        Assert.StartsWith($"{FileName}:{line}:{column}: error:", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Tpt_check_shows_where_a_header_is_read_and_sent()
    {
        var yaml = Upstream("    proxy_protocol: v2\n    tls: {verify: none}").Replace("    default: hub\n", "    default: hub\n    proxy_protocol: accept\n", StringComparison.Ordinal);
        using var output = new StringWriter();
        ConfigSummary.Write(LoadOk(yaml), output);
        Assert.Contains("    proxy_protocol: accept (before the ClientHello)\n", output.ToString().ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("    proxy_protocol: v2, inside_tls\n", output.ToString().ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_placement_without_a_version_is_a_warning()
    {
        var result = Load(Upstream("    proxy_protocol_placement: before_tls"));
        Assert.True(result.Succeeded);
        Assert.Contains(result.Warnings, w => w.Message.Contains("does nothing without 'proxy_protocol'", StringComparison.Ordinal) && w.Line == 5);
    }
}
