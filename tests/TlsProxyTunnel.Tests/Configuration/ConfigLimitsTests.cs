using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Configuration.Yaml;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

/// <summary>Inputs that are valid YAML in principle but would cost minutes or gigabytes to load.</summary>
public sealed class ConfigLimitsTests
{
    // Found by the config fuzzer: 200 000 nested '[' took YamlDotNet's scanner minutes (quadratic in depth).
    [Theory]
    [InlineData("flow sequences")]
    [InlineData("flow mappings")]
    [InlineData("block mappings")]
    public async Task Nesting_past_the_limit_is_one_positioned_error_not_a_long_parse(string shape)
    {
        const int depth = 200_000;
        var yaml = shape switch
        {
            "flow sequences" => "version: 2\nservers: " + new string('[', depth) + new string(']', depth),
            "flow mappings" => "version: 2\nservers: " + string.Concat(Enumerable.Repeat("{a: ", depth)) + "1" + new string('}', depth),
            _ => "version: 2\nservers:\n" + string.Concat(Enumerable.Range(0, 100).Select(i => new string(' ', i + 2) + $"k{i}:\n")),
        };

        // Before the limit this did not finish in minutes; a hang fails here instead of stalling the suite.
        var error = await Task.Run(() => SingleError(yaml)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains($"nesting deeper than {YamlTreeBuilder.MaxDepth} levels", error.Message, StringComparison.Ordinal);
        Assert.True(error.Line >= 2, $"line {error.Line}");
    }

    [Fact]
    public void Nesting_at_the_limit_still_loads_as_yaml()
    {
        // 'servers' + 62 levels under it: deep, pointless, but within the limit, so the mapper reports on it.
        var yaml = "version: 2\nservers: " + new string('[', YamlTreeBuilder.MaxDepth - 1) + new string(']', YamlTreeBuilder.MaxDepth - 1);
        var error = SingleError(yaml);
        Assert.Contains("'servers' must be a mapping", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_over_the_size_limit_is_refused_before_it_is_read()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tpt-huge-{Guid.NewGuid():N}.yaml");
        try
        {
            using (var file = File.Create(path))
            {
                file.SetLength(ConfigLoader.MaxFileBytes + 1L);
            }

            var result = ConfigLoader.Load(path, Env());
            Assert.False(result.Succeeded);
            var error = Assert.Single(result.Errors);
            Assert.Contains("larger than 16 MiB", error.Message, StringComparison.Ordinal);
            Assert.Contains(path, error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
