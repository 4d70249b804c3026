using TlsProxyTunnel.Configuration;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

/// <summary>What tls-proxy-tunnel accepts and tpt must accept too, or warn about where it behaves differently.</summary>
public sealed class CompatibilityTests
{
    [Fact]
    public void A_server_without_listeners_loads_with_a_warning()
    {
        var result = Load("version: 2\nservers:\n  parked:\n    listen: []\n    default: echo\n  web:\n    listen: [\"127.0.0.1:8443\"]\n");
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        Assert.Empty(result.Config!.Servers[0].Listen);
        var warning = Assert.Single(result.Warnings);
        Assert.Equal((4, 13), (warning.Line, warning.Column));
        Assert.Contains("'listen' of server 'parked' is empty", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_double_dollar_in_a_header_value_is_sent_as_one_and_warned_about()
    {
        var result = Load(WithServer("    via:\n      target: proxy:3128\n      headers:\n        X-Password: pa$$word\n        X-Plain: plain"));
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        Assert.Equal("pa$word", result.Config!.Servers[0].Via.Headers[0].Value);
        var warning = Assert.Single(result.Warnings);
        Assert.Equal((9, 21), (warning.Line, warning.Column));
        Assert.Contains("'$$'", warning.Message, StringComparison.Ordinal);
        Assert.Contains("X-Password", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tab_is_allowed_in_a_header_value()
    {
        var config = LoadOk(WithServer("    via:\n      target: proxy:3128\n      headers:\n        X-A: \"a\\tb\""));
        Assert.Equal("a\tb", config.Servers[0].Via.Headers[0].Value);
    }

    /// <summary>The documented rule: with tls off, 'sni' routes nothing (a warning) but is still checked.</summary>
    [Fact]
    public void Sni_on_a_server_without_tls_is_not_used_but_still_checked()
    {
        var result = Load(WithServer("    sni:\n      a.example: nowhere\n      \"bad key!\": echo"));
        Assert.Contains(result.Warnings, w => w.Line == 6 && w.Message.Contains("'sni' of server 'web' routes nothing because 'tls' is not true (its names and upstreams are still checked)", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.Line == 7 && e.Message.Contains("names upstream 'nowhere'", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.Line == 8 && e.Message.Contains("is not a valid host name", StringComparison.Ordinal));

        var config = LoadOk(WithServer("    sni:\n      a.example: echo"));
        Assert.Empty(config.Servers[0].Sni);
    }
}
