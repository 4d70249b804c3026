using System.Text.RegularExpressions;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Cli;

/// <summary>
/// tls-proxy-tunnel's own configuration files (../shared/reference/tls-proxy-tunnel-configs beside the repository)
/// through <c>tpt check</c>: the README promises they load unchanged, and the bad ones must fail at the right place.
/// </summary>
public sealed class ReferenceConfigTests
{
    private static readonly string Root = Path.GetFullPath(Path.Combine(Repository.Root, "..", "shared", "reference", "tls-proxy-tunnel-configs"));

    /// <summary>Values for the variables the files use, given to the child process only.</summary>
    private static readonly Dictionary<string, string?> Variables = new()
    {
        ["ENCODED_PW"] = "dXNlcjpwYXNz",
        ["PROXY_AUTH_TOKEN"] = "dG9rZW4=",
    };

    /// <summary>The files that must load, with the warnings each must give (file:line:column and a phrase).</summary>
    public static TheoryData<string, string[]> GoodFiles => new()
    {
        { "example-config.yaml", [] },
        { "container-files/etc/tpt/config.yaml", [] },
        { "openshift/01-tpt-k8-config.yaml", [] },
        { "tests/config.yaml", [] },
        { "tests/config_full.yaml", [] },
        { "tests/config_log_json.yaml", [] },
        { "tests/config_log_txt.yaml", [] },

        // tls-proxy-tunnel logs a warning for an upstream no server uses and runs; so does tpt.
        { "tests/config_unused_upstream.yaml", ["9:3: warning: upstream 'unused_proxy' is not used"] },
    };

    /// <summary>The files that must fail, each with its one error's position and a phrase of its message.</summary>
    public static TheoryData<string, string, string> BadFiles => new()
    {
        { "tests/config_bad_log_format.yaml", "3:13", "'log-format'" },
        { "tests/config_bad_version.yaml", "1:10", "'version' must be 1 or 2" },
        { "tests/config_bad_yaml.yaml", "1:9", "YAML syntax error" },
        { "tests/config_duplicate_listen.yaml", "10:9", "duplicates '127.0.0.1:56099' of server 'server_a'" },
        { "tests/config_missing_upstream.yaml", "7:14", "names upstream 'nonexistent_upstream'" },
    };

    [Theory]
    [MemberData(nameof(GoodFiles))]
    public async Task Each_good_reference_config_loads_with_its_warnings(string file, string[] warnings)
    {
        using var copy = ReadableCopy(file);
        var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["check", "-c", copy.Path], Variables);
        Assert.True(exitCode == 0, $"{file}:\n{stderr}");
        Assert.Contains("is valid", stdout, StringComparison.Ordinal);
        var reported = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains(": warning: ", StringComparison.Ordinal)).ToList();
        Assert.Equal(warnings.Length, reported.Count);
        foreach (var warning in warnings)
        {
            Assert.Contains(reported, l => l.Contains($"{copy.Path}:{warning}", StringComparison.Ordinal));
        }

        foreach (var secret in Variables.Values)
        {
            Assert.DoesNotContain(secret!, stdout + stderr, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public async Task Fails_at_the_right_place(string file, string position, string message)
    {
        var path = Path.Combine(Root, file);
        var (exitCode, _, stderr) = await TptProcess.RunToExitAsync(["check", "-c", path], Variables);
        Assert.Equal(1, exitCode);
        var error = Assert.Single(stderr.Split('\n'), l => l.Contains(": error: ", StringComparison.Ordinal));
        Assert.StartsWith($"{path}:{position}: error: ", error, StringComparison.Ordinal);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_using_a_variable_that_is_not_given_names_it()
    {
        var path = Path.Combine(Root, "container-files/etc/tpt/config.yaml");
        var (exitCode, _, stderr) = await TptProcess.RunToExitAsync(["check", "-c", path]);
        Assert.Equal(1, exitCode);
        Assert.Contains($"{path}:10:26: error: environment variable 'ENCODED_PW' is not set", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_reference_file_is_classified()
    {
        var classified = GoodFiles.Select(row => (string)row[0]).Concat(BadFiles.Select(row => (string)row[0])).Order(StringComparer.Ordinal);
        var present = Directory.EnumerateFiles(Root, "*.yaml", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Root, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal);
        Assert.Equal(present, classified);
    }

    /// <summary>
    /// The file itself, or for the OpenShift ConfigMap the configuration embedded in it (its <c>config.yaml: |</c>
    /// block, de-indented), which is what the pod mounts.
    /// </summary>
    private static TempConfig ReadableCopy(string file)
    {
        var text = File.ReadAllText(Path.Combine(Root, file));
        if (!text.StartsWith("apiVersion:", StringComparison.Ordinal))
        {
            return new TempConfig(text);
        }

        var lines = text.Split('\n');
        var start = Array.FindIndex(lines, l => Regex.IsMatch(l, @"^\s+config\.yaml:\s*\|\s*$")) + 1;
        Assert.True(start > 0, $"{file} has no config.yaml block");
        var indent = lines[start].Length - lines[start].TrimStart().Length;
        var body = lines.Skip(start)
            .TakeWhile(l => l.Trim().Length == 0 || l.Length - l.TrimStart().Length >= indent)
            .Select(l => l.Length >= indent ? l[indent..] : "");
        return new TempConfig(string.Join('\n', body));
    }
}
