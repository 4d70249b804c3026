using System.Net;
using System.Text.Json;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Logging;

/// <summary>
/// Log format and level precedence: config <c>log</c> &lt; Logging__LogLevel__Default &lt; RUST_LOG &lt; TPT_LOG, all in
/// env_logger's filter syntax; <c>log-format: json</c> writes tls-proxy-tunnel's fields.
/// </summary>
public sealed partial class LoggingTests
{
    private static readonly string[] RustLevels = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

    private static bool IsListening(string line) => line.Contains("Listening: server", StringComparison.Ordinal);

    private static bool IsAccess(string line) => line.Contains("outcome=completed", StringComparison.Ordinal);

    /// <summary>Runs an echo server quietly (logging may be off), echoes once, stops it and returns every stderr line.</summary>
    private static async Task<IReadOnlyList<string>> RunEchoOnceAsync(string logSettings, Dictionary<string, string?> environment, bool expectAccessLine)
    {
        using var config = new TempConfig(EchoConfig(logSettings));
        await using var tpt = await TptProcess.StartQuietAsync(config.Path, 1, environment);
        var endPoint = Assert.Single(tpt.ListeningEndPoints());
        await EchoOnceAsync(endPoint);
        if (expectAccessLine)
        {
            // The signal that the connection was logged; without it, stopping could race the line.
            await tpt.WaitForLineAsync(IsAccess);
        }

        tpt.Signal(TptProcess.SIGTERM);
        Assert.Equal(0, await tpt.WaitForExitAsync());
        return tpt.Lines;
    }

    private static bool IsUnreachableWarning(string line) => line.Contains("Server dead: upstream", StringComparison.Ordinal) && line.Contains("unreachable", StringComparison.Ordinal);

    /// <summary>
    /// Like <see cref="RunEchoOnceAsync"/>, and also connects once to a server whose upstream refuses, whose
    /// warning is the proof that warnings still get through when a test checks that lower levels do not.
    /// </summary>
    private static async Task<IReadOnlyList<string>> RunEchoAndAWarningAsync(string logSettings, Dictionary<string, string?> environment)
    {
        // The dead server on 127.0.0.2, so the two listeners found in /proc tell themselves apart.
        using var config = new TempConfig(EchoConfig(logSettings) + """

              dead:
                listen: ["127.0.0.2:0"]
                default: nowhere
            upstream:
              nowhere: "tcp://127.0.0.1:1"
            """);
        await using var tpt = await TptProcess.StartQuietAsync(config.Path, 2, environment);
        var endPoint = Assert.Single(tpt.ListeningEndPoints(), e => e.Address.Equals(IPAddress.Loopback));
        var deadEndPoint = Assert.Single(tpt.ListeningEndPoints(), e => !e.Address.Equals(IPAddress.Loopback));
        await EchoOnceAsync(endPoint);
        using (var client = await RawClient.ConnectAsync(deadEndPoint))
        {
            Assert.Empty((await client.ReadToEndAsync()).Data);
        }

        await tpt.WaitForLineAsync(IsUnreachableWarning);
        tpt.Signal(TptProcess.SIGTERM);
        Assert.Equal(0, await tpt.WaitForExitAsync());
        return tpt.Lines;
    }

    private static string EchoConfig(string logSettings) => $"""
        version: 2
        {logSettings}
        servers:
          echo:
            listen: ["127.0.0.1:0"]
            default: echo
        """;

    private static async Task EchoOnceAsync(IPEndPoint endPoint)
    {
        using var client = await RawClient.ConnectAsync(endPoint);
        await client.SendAsync("ping"u8.ToArray());
        client.ShutdownSend();
        Assert.Equal("ping"u8.ToArray(), (await client.ReadToEndAsync()).Data);
    }

    [Fact]
    public async Task Json_format_writes_tls_proxy_tunnels_fields_on_every_line()
    {
        using var config = new TempConfig(EchoConfig("log-format: json"));
        var started = DateTimeOffset.UtcNow;
        await using var tpt = await TptProcess.StartAsync(config.Path, 1);
        await EchoOnceAsync(tpt.EndPoint("echo"));
        var access = await tpt.WaitForLineAsync(IsAccess);

        Assert.NotEmpty(tpt.Lines);
        foreach (var line in tpt.Lines)
        {
            using var parsed = JsonDocument.Parse(line);
            var root = parsed.RootElement;
            Assert.Equal(["ts", "level", "target", "msg"], root.EnumerateObject().Select(p => p.Name));
            Assert.Contains(root.GetProperty("level").GetString(), RustLevels);
            var ts = root.GetProperty("ts").GetString()!;
            Assert.Matches(RustTimestamp(), ts);
            var when = DateTimeOffset.Parse(ts, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(when, started.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1));
            Assert.False(string.IsNullOrEmpty(root.GetProperty("target").GetString()));
        }

        using var json = JsonDocument.Parse(access);
        Assert.Equal("INFO", json.RootElement.GetProperty("level").GetString());
        Assert.Equal("TlsProxyTunnel.Access", json.RootElement.GetProperty("target").GetString());
        var msg = json.RootElement.GetProperty("msg").GetString()!;
        Assert.Contains("server=echo", msg, StringComparison.Ordinal);
        Assert.Contains("rx=4", msg, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_dotnet_format_writes_dotnets_fields_with_the_access_log_fields_as_properties()
    {
        using var config = new TempConfig(EchoConfig("log-format: json-dotnet"));
        await using var tpt = await TptProcess.StartAsync(config.Path, 1);
        await EchoOnceAsync(tpt.EndPoint("echo"));
        var access = await tpt.WaitForLineAsync(IsAccess);

        foreach (var line in tpt.Lines)
        {
            using var parsed = JsonDocument.Parse(line);
            Assert.True(parsed.RootElement.TryGetProperty("LogLevel", out _), line);
        }

        using var json = JsonDocument.Parse(access);
        var state = json.RootElement.GetProperty("State");
        Assert.Equal("echo", state.GetProperty("Server").GetString());
        Assert.Equal("echo", state.GetProperty("Upstream").GetString());
        Assert.Equal(4, state.GetProperty("BytesFromClient").GetInt64());
        Assert.Equal("completed", state.GetProperty("Outcome").GetString());
    }

    [Fact]
    public async Task An_env_filter_log_setting_from_tls_proxy_tunnel_is_accepted()
    {
        using var config = new TempConfig(EchoConfig("log: \"info,tls_proxy_tunnel=debug\""));
        await using var tpt = await TptProcess.StartAsync(config.Path, 1, new Dictionary<string, string?> { ["TPT_LOG"] = null });
        await EchoOnceAsync(tpt.EndPoint("echo"));
        await tpt.WaitForLineAsync(IsAccess);
        Assert.Contains(tpt.Lines, IsListening);
        Assert.DoesNotContain(tpt.Lines, l => l.Contains("'log'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_module_directive_enables_only_the_categories_it_maps_to()
    {
        // tls-proxy-tunnel logs connections from servers::protocol; start-up and listeners are other modules.
        var lines = await RunEchoOnceAsync("log: \"off,tls_proxy_tunnel::servers::protocol=info\"", [], expectAccessLine: true);
        Assert.Contains(lines, IsAccess);
        Assert.DoesNotContain(lines, IsListening);
        Assert.DoesNotContain(lines, l => l.Contains("using configuration", StringComparison.Ordinal));
        Assert.All(lines, l => Assert.Contains("TlsProxyTunnel.Access", l, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rust_log_is_honoured_when_tpt_log_is_unset()
    {
        var lines = await RunEchoOnceAsync("log: off", new() { ["RUST_LOG"] = "info" }, expectAccessLine: true);
        Assert.Contains(lines, IsListening);
    }

    [Fact]
    public async Task Rust_log_replaces_the_configured_filter_whole()
    {
        var lines = await RunEchoOnceAsync("log: info", new() { ["RUST_LOG"] = "warn,tls_proxy_tunnel::servers=info" }, expectAccessLine: true);
        Assert.Contains(lines, IsAccess);
        Assert.DoesNotContain(lines, l => l.Contains("using configuration", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tpt_log_wins_over_rust_log()
    {
        var lines = await RunEchoAndAWarningAsync("log: info", new() { ["TPT_LOG"] = "warn", ["RUST_LOG"] = "debug" });
        Assert.Contains(lines, IsUnreachableWarning);
        Assert.DoesNotContain(lines, l => l.Contains("info:", StringComparison.Ordinal) || l.Contains("dbug:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Directives_tpt_cannot_map_are_warned_about_once_at_load_and_by_check()
    {
        using var config = new TempConfig(EchoConfig("log: \"info,hyper=debug\""));
        var env = new Dictionary<string, string?> { ["RUST_LOG"] = "info,tokio[task]=trace" };
        var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["check", "-c", config.Path], env);
        Assert.Equal(0, exitCode);
        Assert.Single(WarningsIn(stderr, "'hyper'"));
        Assert.Single(WarningsIn(stderr, "RUST_LOG"));
        Assert.Contains("is valid", stdout, StringComparison.Ordinal);

        await using var tpt = await TptProcess.StartAsync(config.Path, 1, new Dictionary<string, string?> { ["TPT_LOG"] = null, ["RUST_LOG"] = "info,tokio[task]=trace" });
        Assert.Single(tpt.Lines, l => l.Contains("warning", StringComparison.Ordinal) && l.Contains("span filters", StringComparison.Ordinal));
    }

    private static IEnumerable<string> WarningsIn(string stderr, string mentioned) =>
        stderr.Split('\n').Where(l => l.Contains("warning", StringComparison.Ordinal) && l.Contains(mentioned, StringComparison.Ordinal));

    [System.Text.RegularExpressions.GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")]
    private static partial System.Text.RegularExpressions.Regex RustTimestamp();

    [Fact]
    public async Task The_log_format_synonym_log_format_is_honoured()
    {
        using var config = new TempConfig(EchoConfig("log_format: json"));
        await using var tpt = await TptProcess.StartAsync(config.Path, 1);
        Assert.All(tpt.Lines, l => Assert.StartsWith("{", l, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("log: off")]
    [InlineData("log: disable")]
    public async Task Off_and_disable_write_nothing_at_all(string logSetting)
    {
        using var config = new TempConfig(EchoConfig(logSetting));
        await using var tpt = await TptProcess.StartQuietAsync(config.Path, 1);
        var endPoint = Assert.Single(tpt.ListeningEndPoints());
        await EchoOnceAsync(endPoint);
        tpt.Signal(TptProcess.SIGTERM);
        Assert.Equal(0, await tpt.WaitForExitAsync());
        Assert.Empty(tpt.Lines);
    }

    [Fact]
    public async Task Tpt_log_overrides_the_configured_level()
    {
        using var config = new TempConfig(EchoConfig("log: off"));
        await using var tpt = await TptProcess.StartQuietAsync(config.Path, 1, new Dictionary<string, string?> { ["TPT_LOG"] = "debug" });
        var endPoint = Assert.Single(tpt.ListeningEndPoints());
        await EchoOnceAsync(endPoint);
        await tpt.WaitForLineAsync(l => l.Contains("outcome=completed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tpt_log_wins_over_logging_loglevel_default()
    {
        var lines = await RunEchoAndAWarningAsync("log: info", new() { ["TPT_LOG"] = "warn", ["Logging__LogLevel__Default"] = "Debug" });
        Assert.Contains(lines, IsUnreachableWarning);
        Assert.DoesNotContain(lines, l => l.Contains("info:", StringComparison.Ordinal) || l.Contains("dbug:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Logging_loglevel_default_overrides_the_configured_level()
    {
        var lines = await RunEchoAndAWarningAsync("log: info", new() { ["Logging__LogLevel__Default"] = "Warning" });
        Assert.Contains(lines, IsUnreachableWarning);
        Assert.DoesNotContain(lines, l => l.Contains("outcome=", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_invalid_tpt_log_is_an_error_before_anything_binds()
    {
        using var config = new TempConfig(EchoConfig("log: info"));
        var (exitCode, _, stderr) = await TptProcess.RunToExitAsync(["-c", config.Path], new Dictionary<string, string?> { ["TPT_LOG"] = "loud" });
        Assert.Equal(1, exitCode);
        Assert.Contains("TPT_LOG: 'loud' is not a log level", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Listening", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_invalid_rust_log_is_an_error_before_anything_binds()
    {
        using var config = new TempConfig(EchoConfig("log: info"));
        var (exitCode, _, stderr) = await TptProcess.RunToExitAsync(["-c", config.Path], new Dictionary<string, string?> { ["RUST_LOG"] = "info,tls_proxy_tunnel=loud" });
        Assert.Equal(1, exitCode);
        Assert.Contains("RUST_LOG: 'loud' in 'tls_proxy_tunnel=loud' is not a log level", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Listening", stderr, StringComparison.Ordinal);
    }
}
