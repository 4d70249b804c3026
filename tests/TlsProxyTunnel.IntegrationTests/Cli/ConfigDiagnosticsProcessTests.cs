using System.Diagnostics;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Cli;

/// <summary>
/// What the real binary prints about a configuration, in <c>tpt check</c> and at start-up: no secret, bounded
/// output, positions, escaped names.
/// </summary>
public sealed class ConfigDiagnosticsProcessTests
{
    private const string Minimal = "version: 2\nservers:\n  web:\n";

    /// <summary>
    /// Every key that takes text, each with a value from <c>$SECRET</c> that is wrong in a different part (port,
    /// host, scheme, name...). The marker <c>Zq9</c> makes any leaked fragment visible.
    /// </summary>
    public static TheoryData<string, string, string> SecretCases => new()
    {
        { "listen: port part", Minimal + "    listen: [\"${SECRET}\"]\n", "127.0.0.1:Zq9PortLeak" },
        { "listen: host part", Minimal + "    listen: [\"${SECRET}\"]\n", "Zq9HostLeak:8473" },
        { "listen: IPv6 part", Minimal + "    listen: [\"${SECRET}\"]\n", "[Zq9V6Leak]:8473" },
        { "listen: part of the value", Minimal + "    listen: [\"127.0.0.1:${SECRET}\"]\n", "Zq9Partial" },
        { "upstream: host", Upstream("tcp://${SECRET}:443"), "bad_host!Zq9UpHost" },
        { "upstream: port", Upstream("tcp://example.com:${SECRET}"), "Zq9UpPort" },
        { "upstream: scheme", Upstream("${SECRET}"), "zq9scheme://example.com:1" },
        { "upstream: IPv6", Upstream("${SECRET}"), "tcp6://[Zq9V6]:443" },
        { "via.target: port part", Via("      target: ${SECRET}"), "proxy:Basic_Zq9dXNlcjpw" },
        { "via.target: host part", Via("      target: ${SECRET}"), "Zq9..bad-host:3173" },
        { "via.target: IPv6 part", Via("      target: ${SECRET}"), "[Zq9V6Target]:3173" },
        { "via.target_port", Via("      target_port: ${SECRET}"), "Zq9Port" },
        { "via.use_sni_as_target", Via("      use_sni_as_target: ${SECRET}"), "Zq9Bool" },
        { "via.connect_timeout", Via("      connect_timeout: ${SECRET}"), "Zq9Duration" },
        { "via.headers", Via("      headers:\n        X-Token: \"${SECRET}\""), "Zq9Head\u0001Zq9Ctl" },
        { "via.auth.username", Via("      auth: {username: \"${SECRET}\", password: pw}"), "Zq9User:Zq9Rest" },
        { "default", Minimal + "    listen: [\"127.0.0.1:0\"]\n    default: ${SECRET}\n", "Zq9MissingUpstream" },
        { "sni target", Minimal + "    listen: [\"127.0.0.1:0\"]\n    tls: true\n    sni:\n      a.example: ${SECRET}\n", "Zq9SniUpstream" },
        { "sni upstream", Minimal + "    listen: [\"127.0.0.1:0\"]\n    tls: true\n    sni:\n      a.example: {upstream: \"${SECRET}\"}\n", "Zq9SniExtended" },
        { "protocol", Minimal + "    listen: [\"127.0.0.1:0\"]\n    protocol: ${SECRET}\n", "Zq9Proto" },
        { "maxclients", Minimal + "    listen: [\"127.0.0.1:0\"]\n    maxclients: ${SECRET}\n", "Zq9Max" },
        { "idle_timeout", Minimal + "    listen: [\"127.0.0.1:0\"]\n    idle_timeout: ${SECRET}\n", "Zq9Idle" },
        { "version", "version: ${SECRET}\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n", "Zq9Version" },
        { "log", "version: 2\nlog: ${SECRET}\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n", "Zq9Level" },
        { "log-format", "version: 2\nlog-format: ${SECRET}\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n", "Zq9Format" },
        { "resolver.nameservers", Minimal + "    listen: [\"127.0.0.1:0\"]\nresolver:\n  nameservers: [\"10.0.0.1:${SECRET}\"]\n", "Zq9Ns" },
    };

    [Theory]
    [MemberData(nameof(SecretCases))]
    public async Task No_part_of_an_environment_value_reaches_check_or_start_up_output(string key, string yaml, string secret)
    {
        using var config = new TempConfig(yaml);
        var env = new Dictionary<string, string?> { ["SECRET"] = secret, ["TPT_LOG"] = "trace" };
        foreach (var args in new[] { new[] { "check", "-c", config.Path }, ["-c", config.Path] })
        {
            var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(args, env);
            var output = stdout + stderr;
            Assert.True(exitCode == 1, $"{key} ({string.Join(' ', args)}): expected a rejected configuration, got {exitCode}:\n{output}");
            Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(config.Path)}:\d+:\d+: error: ", output);
            foreach (var fragment in Fragments(secret))
            {
                Assert.False(output.Contains(fragment, StringComparison.OrdinalIgnoreCase), $"{key} ({string.Join(' ', args)}): '{fragment}' leaked:\n{output}");
            }
        }
    }

    [Fact]
    public async Task Check_of_a_merge_key_bomb_is_quick_and_its_output_bounded()
    {
        using var config = new TempConfig(MergeKeyBomb(600, 600));
        var watch = Stopwatch.StartNew();
        var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["check", "-c", config.Path]);
        Assert.Equal(1, exitCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"took {watch.Elapsed}");
        Assert.True(stdout.Length + stderr.Length < 32 * 1024, $"{stdout.Length + stderr.Length} characters of output");
        Assert.Contains("more error(s)", stderr, StringComparison.Ordinal);
        Assert.Contains("has 601 error(s)", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reloading_a_merge_key_bomb_keeps_log_and_memory_bounded()
    {
        using var config = new TempConfig("version: 2\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n    default: echo\n");
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1);
        var linesBefore = tpt.Lines.Count;

        await File.WriteAllTextAsync(config.Path, MergeKeyBomb(600, 600));
        tpt.Signal(TptProcess.SIGHUP);
        await tpt.WaitForLineAsync(l => l.Contains("Reload rejected", StringComparison.Ordinal), TimeSpan.FromSeconds(60));

        var logged = tpt.Lines.Skip(linesBefore).ToList();
        Assert.True(logged.Count < 2 * 100, $"{logged.Count} lines logged for one rejected reload");
        Assert.True(logged.Sum(l => l.Length) < 64 * 1024, $"{logged.Sum(l => l.Length)} characters logged");
        Assert.Contains(logged, l => l.Contains("more error(s)", StringComparison.Ordinal));

        // The issue measured 53 -> 389 MB; the Kubernetes example limits the container to 256 MiB.
        var rss = ResidentMegabytes(tpt.Pid);
        Assert.True(rss < 200, $"resident set {rss} MB after the reload");
    }

    [Fact]
    public async Task A_ten_megabyte_value_is_not_echoed()
    {
        using var config = new TempConfig("version: 2\nlog: " + new string('x', 10 * 1024 * 1024) + "\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n");
        var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["check", "-c", config.Path]);
        Assert.Equal(1, exitCode);
        Assert.True(stdout.Length + stderr.Length < 4096, $"{stdout.Length + stderr.Length} characters of output");
        Assert.Contains($"{config.Path}:2:6", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_directory_given_to_c_is_called_a_directory()
    {
        using var config = new TempConfig(Minimal);
        var (exitCode, _, stderr) = await TptProcess.RunToExitAsync(["check", "-c", config.Directory]);
        Assert.Equal(1, exitCode);
        Assert.Contains("is a directory", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("does not exist", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_check_command_may_follow_the_options()
    {
        using var config = new TempConfig(Minimal + "    listen: [\"127.0.0.1:0\"]\n    default: echo\n");
        var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["-c", config.Path, "check"]);
        Assert.True(exitCode == 0, stderr);
        Assert.Contains("is valid", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tab_in_the_indentation_is_reported_where_it_is()
    {
        using var config = new TempConfig("version: 2\n\n\n\n\nservers:\n  web:\n    listen: [\"127.0.0.1:0\"]\n\tmaxclients: 5\n    default: echo\n");
        var (exitCode, _, stderr) = await TptProcess.RunToExitAsync(["check", "-c", config.Path]);
        Assert.Equal(1, exitCode);
        Assert.Contains($"{config.Path}:9:1: error:", stderr, StringComparison.Ordinal);
        Assert.Contains("tab", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_escapes_control_characters_in_names()
    {
        using var config = new TempConfig("version: 2\nservers:\n  \"we\\e[2Jb\\u0007\":\n    listen: [\"127.0.0.1:0\"]\n    default: up\nupstream:\n  \"u\\rp\": tcp://example.com:443\n");
        var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["check", "-c", config.Path]);
        var output = stdout + stderr;
        Assert.Equal(1, exitCode);
        Assert.DoesNotContain('\u001b', output);
        Assert.DoesNotContain('\u0007', output);
        Assert.DoesNotContain('\r', output);
        Assert.Contains(@"we\x1b[2Jb\x07", output, StringComparison.Ordinal);

        using var valid = new TempConfig("version: 2\nservers:\n  \"we\\e[2Jb\":\n    listen: [\"127.0.0.1:0\"]\n    default: echo\n");
        (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["check", "-c", valid.Path]);
        Assert.True(exitCode == 0, stderr);
        Assert.DoesNotContain('\u001b', stdout);
        Assert.Contains(@"we\x1b[2Jb: tcp", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_double_dollar_in_a_header_is_warned_about_in_check_and_at_start_up()
    {
        using var config = new TempConfig(Minimal + "    listen: [\"127.0.0.1:0\"]\n    default: echo\n    via:\n      target: proxy.example:3128\n      headers:\n        X-Password: pa$$word\n");
        var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["check", "-c", config.Path]);
        Assert.True(exitCode == 0, stderr);
        Assert.Contains($"{config.Path}:9:21: warning:", stderr, StringComparison.Ordinal);
        Assert.Contains("'$$'", stderr, StringComparison.Ordinal);

        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1);
        Assert.Contains(tpt.Lines, l => l.Contains($"{config.Path}:9:21: warning:", StringComparison.Ordinal) && l.Contains("'$$'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_server_without_listeners_starts_with_a_warning()
    {
        using var config = new TempConfig("version: 2\nservers:\n  parked:\n    listen: []\n  web:\n    listen: [\"127.0.0.1:0\"]\n    default: echo\n");
        var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["check", "-c", config.Path]);
        Assert.True(exitCode == 0, stderr);
        Assert.Contains($"{config.Path}:4:13: warning: 'listen' of server 'parked' is empty", stderr, StringComparison.Ordinal);
        Assert.Contains("listen: (none)", stdout, StringComparison.Ordinal);

        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1);
        Assert.Contains(tpt.Lines, l => l.Contains("'listen' of server 'parked' is empty", StringComparison.Ordinal));
    }

    internal static string MergeKeyBomb(int keys, int servers)
    {
        var text = new StringBuilder("version: 2\nvia: &m {");
        text.AppendJoin(", ", Enumerable.Range(0, keys).Select(k => $"k{k}: 1"));
        text.Append("}\nservers:\n");
        for (var s = 0; s < servers; s++)
        {
            text.Append($"  s{s}: {{<<: *m, listen: [\"127.0.0.1:0\"]}}\n");
        }

        return text.ToString();
    }

    private static IEnumerable<string> Fragments(string secret) =>
        secret.Split(secret.Where(c => !char.IsAsciiLetterOrDigit(c)).Distinct().ToArray(), StringSplitOptions.RemoveEmptyEntries)
            .Where(f => f.Length >= 4 && f.Contains("zq9", StringComparison.OrdinalIgnoreCase))
            .Append(secret);

    private static int ResidentMegabytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return int.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
    }

    private static string Via(string body) => Minimal + $"    listen: [\"127.0.0.1:0\"]\n    default: up\n    via:\n{body}\nupstream:\n  up: tcp://example.com:443\n";

    private static string Upstream(string url) => Minimal + $"    listen: [\"127.0.0.1:0\"]\n    default: up\nupstream:\n  up: \"{url}\"\n";
}
