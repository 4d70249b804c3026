using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Diagnostics;

public sealed class LogFilterParserTests
{
    private static LogFilter Ok(string text, int warnings = 0)
    {
        var parsed = LogFilterParser.Parse(text);
        Assert.Empty(parsed.Errors);
        Assert.Equal(warnings, parsed.Warnings.Count);
        return parsed.Filter!;
    }

    [Theory]
    [InlineData("trace", LogLevel.Trace)]
    [InlineData("debug", LogLevel.Debug)]
    [InlineData("info", LogLevel.Information)]
    [InlineData("INFO", LogLevel.Information)]
    [InlineData("information", LogLevel.Information)]
    [InlineData("warn", LogLevel.Warning)]
    [InlineData("Warning", LogLevel.Warning)]
    [InlineData("error", LogLevel.Error)]
    [InlineData("off", LogLevel.None)]
    [InlineData("none", LogLevel.None)]
    [InlineData("disable", LogLevel.None)]
    [InlineData(" debug ", LogLevel.Debug)]
    public void A_bare_level_is_the_default_level(string text, LogLevel expected)
    {
        var filter = Ok(text);
        Assert.Equal(expected, filter.Default);
        Assert.Empty(filter.Rules);
    }

    [Fact]
    public void The_one_table_serves_every_source_and_names_each_level_once_for_messages()
    {
        foreach (var name in LogLevels.Names)
        {
            Assert.True(LogLevels.TryParse(name, out var level));
            Assert.Contains(LogLevels.Name(level), LogLevels.Expected, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Tls_proxy_tunnel_maps_to_all_of_tpts_own_categories()
    {
        var filter = Ok("info,tls_proxy_tunnel=debug");
        Assert.Equal(LogLevel.Information, filter.Default);
        Assert.Equal(new Dictionary<string, LogLevel> { ["TlsProxyTunnel"] = LogLevel.Debug }, filter.Rules);
        Assert.Equal("info (TlsProxyTunnel: debug)", filter.ToString());
    }

    [Theory]
    [InlineData("tls_proxy_tunnel::servers::protocol::tcp", "TlsProxyTunnel.Access")]
    [InlineData("tls_proxy_tunnel::servers::upstream_address", "TlsProxyTunnel.Dns")]
    [InlineData("tls_proxy_tunnel::upstreams::proxy_to_upstream", "TlsProxyTunnel.Upstream")]
    [InlineData("tls_proxy_tunnel::config", "TlsProxyTunnel.Hosting.ConfigReloader")]
    [InlineData("TlsProxyTunnel.Access", "TlsProxyTunnel.Access")]
    [InlineData("tlsproxytunnel.listeners", "tlsproxytunnel.listeners")]
    public void Modules_map_to_the_categories_that_log_what_they_logged(string target, string category)
    {
        var filter = Ok($"warn,{target}=trace");
        Assert.Equal(LogLevel.Trace, filter.Rules[category]);
    }

    [Fact]
    public void Without_a_default_level_only_the_named_targets_log_as_in_env_logger()
    {
        var filter = Ok("tls_proxy_tunnel=debug");
        Assert.Equal(LogLevel.None, filter.Default);
        Assert.Equal(LogLevel.Debug, filter.Rules["TlsProxyTunnel"]);
    }

    [Theory]
    [InlineData("tls_proxy_tunnel")]
    [InlineData("tls_proxy_tunnel=")]
    public void A_target_without_a_level_enables_all_of_its_levels(string text)
    {
        Assert.Equal(LogLevel.Trace, Ok(text).Rules["TlsProxyTunnel"]);
    }

    [Theory]
    [InlineData("tls_proxy_tunnel::servers=debug,tls_proxy_tunnel::servers::protocol=warn")]
    [InlineData("tls_proxy_tunnel::servers::protocol=warn,tls_proxy_tunnel::servers=debug")]
    public void The_more_specific_target_wins_whatever_the_order(string text)
    {
        var filter = Ok(text);
        Assert.Equal(LogLevel.Warning, filter.Rules["TlsProxyTunnel.Access"]);
        Assert.Equal(LogLevel.Debug, filter.Rules["TlsProxyTunnel.Listeners"]);
    }

    [Fact]
    public void A_later_repeat_wins()
    {
        var filter = Ok("debug,tls_proxy_tunnel=trace,error,tls_proxy_tunnel=info");
        Assert.Equal(LogLevel.Error, filter.Default);
        Assert.Equal(LogLevel.Information, filter.Rules["TlsProxyTunnel"]);
    }

    [Theory]
    [InlineData("info,hyper=debug", "'hyper'")]
    [InlineData("info,tls_proxy_tunnel::nonexistent=debug", "'tls_proxy_tunnel::nonexistent'")]
    [InlineData("info,tokio", "'tokio'")]
    [InlineData("info,tls_proxy_tunnel[conn{id=1,peer=x}]=debug", "span filters")]
    [InlineData("info/connect", "message filter '/connect'")]
    public void Directives_tpt_cannot_map_are_warnings_and_the_rest_still_applies(string text, string mentioned)
    {
        var parsed = LogFilterParser.Parse(text);
        Assert.Empty(parsed.Errors);
        var warning = Assert.Single(parsed.Warnings);
        Assert.Contains(mentioned, warning, StringComparison.Ordinal);
        Assert.Equal(LogLevel.Information, parsed.Filter!.Default);
        Assert.Empty(parsed.Filter.Rules);
    }

    [Theory]
    [InlineData("loud", "'loud' is not a log level")]
    [InlineData("inof", "did you mean 'info'?")]
    [InlineData("", "is empty")]
    [InlineData(" , ", "is empty")]
    [InlineData("info,tls_proxy_tunnel=loud", "'loud' in 'tls_proxy_tunnel=loud' is not a log level")]
    [InlineData("info,a=b=c", "'a=b=c' is not a directive")]
    public void What_is_not_a_filter_at_all_is_an_error(string text, string expected)
    {
        var parsed = LogFilterParser.Parse(text);
        Assert.Null(parsed.Filter);
        Assert.Contains(parsed.Errors, e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Text_from_the_environment_is_never_quoted()
    {
        var parsed = LogFilterParser.Parse("info,s3cr3t=debug,tls_proxy_tunnel=n0pe", showText: false);
        Assert.DoesNotContain(parsed.Warnings.Concat(parsed.Errors), m => m.Contains("s3cr3t", StringComparison.Ordinal) || m.Contains("n0pe", StringComparison.Ordinal));
        Assert.NotEmpty(parsed.Errors);
    }

    [Fact]
    public void Thousands_of_unmappable_directives_give_a_capped_number_of_short_printable_warnings()
    {
        var text = "info," + string.Join(',', Enumerable.Range(0, 5000).Select(i => $"crate{i}\u0007{new string('x', 500)}=debug"));
        var parsed = LogFilterParser.Parse(text);
        Assert.Equal(LogLevel.Information, parsed.Filter!.Default);
        Assert.Equal(11, parsed.Warnings.Count);
        Assert.Equal("and 4990 more warning(s) like these", parsed.Warnings[^1]);
        Assert.All(parsed.Warnings, w => Assert.True(w.Length < 300, w));
        Assert.All(parsed.Warnings, w => Assert.DoesNotContain(w, char.IsControl));
        Assert.Contains("\\x07", parsed.Warnings[0], StringComparison.Ordinal);
    }

    [Fact]
    public void An_own_category_with_characters_no_category_has_is_not_one()
    {
        var parsed = LogFilterParser.Parse("info,TlsProxyTunnel.Acc\u001bess=debug");
        Assert.Empty(parsed.Filter!.Rules);
        Assert.Single(parsed.Warnings);
    }

    [Fact]
    public void The_config_log_key_takes_the_filter_and_warns_at_its_position()
    {
        var result = Load("version: 2\nlog: \"info,tls_proxy_tunnel=debug,hyper=trace\"\nservers: {w: {listen: ['127.0.0.1:1']}}");
        Assert.True(result.Succeeded);
        Assert.Equal(LogLevel.Debug, result.Config!.Log.Rules["TlsProxyTunnel"]);
        var warning = Assert.Single(result.Diagnostics, d => d.Severity == DiagnosticSeverity.Warning);
        Assert.Equal(2, warning.Line);
        Assert.Contains("'hyper'", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_log_value_from_the_environment_is_not_echoed_in_its_diagnostics()
    {
        var result = Load("version: 2\nlog: ${LEVEL}\nservers: {w: {listen: ['127.0.0.1:1']}}", Env(("LEVEL", "info,t0ken=debug")));
        var warning = Assert.Single(result.Diagnostics);
        Assert.DoesNotContain("t0ken", warning.ToString(), StringComparison.Ordinal);
    }
}
