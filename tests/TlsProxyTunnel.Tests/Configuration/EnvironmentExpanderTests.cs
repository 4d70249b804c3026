using TlsProxyTunnel.Configuration;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

public sealed class EnvironmentExpanderTests
{
    private static readonly Func<string, string?> Environment = Env(("A", "1"), ("B", "two"), ("EMPTY", ""), ("_x9", "u"));

    [Theory]
    [InlineData("plain", "plain", false)]
    [InlineData("$A", "1", true)]
    [InlineData("${A}", "1", true)]
    [InlineData("x${A}y", "x1y", true)]
    [InlineData("$A:$B", "1:two", true)]
    [InlineData("${A}${B}-$A", "1two-1", true)]
    [InlineData("$$", "$", false)]
    [InlineData("$$A", "$A", false)]
    [InlineData("price $", "price $", false)]
    [InlineData("$ 5", "$ 5", false)]
    [InlineData("$1", "$1", false)]
    [InlineData("${UNSET:-}", "", true)]
    [InlineData("${UNSET:-def}", "def", true)]
    [InlineData("${EMPTY:-def}", "def", true)]
    [InlineData("${A:-def}", "1", true)]
    [InlineData("${EMPTY}", "", true)]
    [InlineData("$_x9.", "u.", true)]
    [InlineData("${UNSET:-a:b#c}", "a:b#c", true)]
    public void Expands(string input, string expected, bool usedVariables)
    {
        var result = EnvironmentExpander.Expand(input, Environment);
        Assert.Empty(result.Problems);
        Assert.Equal(expected, result.Value);
        Assert.Equal(usedVariables, result.UsedVariables);
    }

    [Theory]
    [InlineData("$UNSET", "UNSET")]
    [InlineData("${UNSET}", "UNSET")]
    [InlineData("a $A $MISSING b", "MISSING")]
    public void Unset_variable_without_default_is_a_problem_naming_it(string input, string name)
    {
        var result = EnvironmentExpander.Expand(input, Environment);
        var problem = Assert.Single(result.Problems);
        Assert.Contains($"'{name}'", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("${A")]
    [InlineData("${}")]
    [InlineData("${1X}")]
    [InlineData("${A-x}")]
    public void Malformed_braces_are_problems(string input)
    {
        Assert.NotEmpty(EnvironmentExpander.Expand(input, Environment).Problems);
    }

    [Fact]
    public void Unset_variables_are_reported_with_their_position_in_the_file()
    {
        var yaml = WithServer("    default: ban\n    via:\n      headers:\n        X-Key: \"k=$SECRET_KEY\"");
        var error = SingleError(yaml);
        Assert.StartsWith("test.yaml:9:16: error:", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("'SECRET_KEY'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Colons_and_hashes_from_the_environment_stay_inside_the_value()
    {
        var yaml = WithServer("    via:\n      headers:\n        X-Note: $NOTE\n        X-Other: fixed");
        var config = LoadOk(yaml, Env(("NOTE", "a: b # c, evil: {x: 1}")));
        var headers = config.Servers[0].Via.Headers;
        Assert.Equal(2, headers.Count);
        Assert.Equal(new ProxyHeader("X-Note", "a: b # c, evil: {x: 1}", true), headers[0]);
        Assert.Equal(new ProxyHeader("X-Other", "fixed", false), headers[1]);
    }

    [Fact]
    public void Keys_are_not_expanded()
    {
        var config = LoadOk(WithServer("    via:\n      headers:\n        X-$A: v"), Env(("A", "1")));
        Assert.Equal("X-$A", config.Servers[0].Via.Headers[0].Name);
    }

    [Fact]
    public void Expansion_works_in_every_value_and_display_keeps_the_written_form()
    {
        const string yaml = """
            version: ${VERSION:-2}
            servers:
              web:
                listen: ["${HOST}:${PORT}"]
                maxclients: $MAX
                default: up
            upstream:
              up: tcp://${BACKEND}:443
            """;
        var config = LoadOk(yaml, Env(("HOST", "127.0.0.1"), ("PORT", "9000"), ("MAX", "7"), ("BACKEND", "secret-host.internal")));
        var server = config.Servers[0];
        Assert.Equal(2, config.Version);
        Assert.Equal(9000, server.Listen[0].EndPoint.Port);
        Assert.Equal("${HOST}:${PORT}", server.Listen[0].Text);
        Assert.Equal(7, server.MaxClients);
        Assert.Equal("secret-host.internal", config.Upstreams["up"].Host);
        Assert.Equal("tcp://${BACKEND}:443", config.Upstreams["up"].Display);
    }

    [Fact]
    public void Type_errors_on_expanded_values_do_not_show_the_secret_value()
    {
        var error = SingleError(WithServer("    maxclients: $MAX"), Env(("MAX", "hunter2")));
        Assert.DoesNotContain("hunter2", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("$MAX", error.Message, StringComparison.Ordinal);
    }
}
