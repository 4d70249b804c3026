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

    /// <summary>
    /// The issue's file: one anchored mapping of 600 unknown keys merged into 600 servers. Each key is one mistake
    /// at one place; it made 361 198 errors (60 MB of log) and 389 MB of memory on a reload.
    /// </summary>
    internal static string MergeKeyBomb(int keys, int servers)
    {
        var text = new System.Text.StringBuilder("version: 2\nvia: &m {");
        text.AppendJoin(", ", Enumerable.Range(0, keys).Select(k => $"k{k}: 1"));
        text.Append("}\nservers:\n");
        for (var s = 0; s < servers; s++)
        {
            text.Append($"  s{s}: {{<<: *m, listen: [\"127.0.0.1:0\"]}}\n");
        }

        return text.ToString();
    }

    [Fact]
    public async Task Errors_multiplied_through_merge_keys_are_reported_once_per_position_and_capped()
    {
        var yaml = MergeKeyBomb(600, 600);
        var result = await Task.Run(() => Load(yaml)).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.False(result.Succeeded);
        Assert.True(result.Diagnostics.Count <= DiagnosticBag.MaxReported + 1, $"{result.Diagnostics.Count} diagnostics");
        var errors = result.Errors.ToList();
        Assert.Equal(errors.Count, errors.Select(e => (e.Line, e.Column)).Distinct().Count());
        Assert.All(errors.Where(e => !e.Message.Contains("merge keys", StringComparison.Ordinal)), e => Assert.Equal(2, e.Line));

        // The top-level via reports its 600 unknown keys once each; the servers add nothing new but the one
        // merge that ran past the merge budget (600 x 600 entries is over it).
        Assert.Equal(601, result.ErrorCount);
        var note = result.Diagnostics[^1];
        Assert.Equal(DiagnosticSeverity.Note, note.Severity);
        Assert.Contains($"and {601 - DiagnosticBag.MaxReported} more error(s)", note.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_larger_merge_key_bomb_loads_in_seconds()
    {
        // The issue's 111 KB variant took 68 s and 2.1 GB in 'tpt check'.
        var yaml = MergeKeyBomb(1200, 1500);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var result = await Task.Run(() => Load(yaml)).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
        Assert.True(result.Diagnostics.Count <= DiagnosticBag.MaxReported + 1);
        Assert.True(string.Join("\n", result.Diagnostics).Length < 64 * 1024);
        Assert.Single(result.Errors, e => e.Message.Contains("merge keys", StringComparison.Ordinal));
    }

    [Fact]
    public void Merges_past_the_budget_are_one_error_at_the_merge_that_ran_out()
    {
        // Valid keys this time: 200 servers each merging 1 000 entries of a 1 000-key mapping is 200 000 entries.
        var yaml = "version: 2\nx: &m {" + string.Join(", ", Enumerable.Range(0, 1000).Select(k => $"k{k}: 1")) + "}\n";
        var result = Load(yaml + "servers:\n" + string.Concat(Enumerable.Range(0, 200).Select(s => $"  s{s}: {{<<: *m}}\n")));
        var budget = result.Errors.Where(e => e.Message.Contains("merge keys", StringComparison.Ordinal)).ToList();
        var error = Assert.Single(budget);
        // Line 4 is s0; s100 is the first whose merge does not fit.
        Assert.Equal(4 + (YamlTreeBuilder.MaxMergedEntries / 1000), error.Line);
    }

    [Theory]
    [InlineData("log: {0}")]
    [InlineData("servers:\n  web:\n    listen: [\"{0}\"]")]
    [InlineData("servers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n    maxclients: {0}")]
    [InlineData("servers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n    {0}: 1")]
    [InlineData("servers:\n  {0}:\n    listen: 1")]
    [InlineData("upstream:\n  a: {0}")]
    public void A_huge_value_is_never_echoed(string template)
    {
        var huge = new string('x', 10 * 1024 * 1024);
        var result = Load("version: 2\n" + template.Replace("{0}", huge, StringComparison.Ordinal));
        Assert.NotEmpty(result.Errors);
        Assert.All(result.Diagnostics, d => Assert.True(d.ToString().Length < 2048, $"{d.ToString().Length} characters"));
    }
}
