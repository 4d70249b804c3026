using System.Net;
using System.Text.Json;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Logging;

/// <summary>Log format and level precedence: config <c>log</c> &lt; Logging__LogLevel__Default &lt; TPT_LOG.</summary>
public sealed class LoggingTests
{
    private static string EchoConfig(string logSettings, int port = 0) => $"""
        version: 2
        {logSettings}
        servers:
          echo:
            listen: ["127.0.0.1:{port}"]
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
    public async Task Json_format_writes_one_object_per_line_with_the_access_log_fields_as_properties()
    {
        using var config = new TempConfig(EchoConfig("log-format: json"));
        await using var tpt = await TptProcess.StartAsync(config.Path, 1);
        await EchoOnceAsync(tpt.EndPoint("echo"));
        var access = await tpt.WaitForLineAsync(l => l.Contains("outcome=completed", StringComparison.Ordinal));

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
        var port = TptProcess.FreePort();
        using var config = new TempConfig(EchoConfig(logSetting, port));
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        await using var tpt = await TptProcess.StartQuietAsync(config.Path, endPoint);
        await EchoOnceAsync(endPoint);
        tpt.Signal(TptProcess.SIGTERM);
        Assert.Equal(0, await tpt.WaitForExitAsync());
        Assert.Empty(tpt.Lines);
    }

    [Fact]
    public async Task Tpt_log_overrides_the_configured_level()
    {
        var port = TptProcess.FreePort();
        using var config = new TempConfig(EchoConfig("log: off", port));
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        await using var tpt = await TptProcess.StartQuietAsync(config.Path, endPoint, new Dictionary<string, string?> { ["TPT_LOG"] = "debug" });
        await EchoOnceAsync(endPoint);
        await tpt.WaitForLineAsync(l => l.Contains("outcome=completed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tpt_log_wins_over_logging_loglevel_default()
    {
        var port = TptProcess.FreePort();
        using var config = new TempConfig(EchoConfig("log: info", port));
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        var env = new Dictionary<string, string?> { ["TPT_LOG"] = "warn", ["Logging__LogLevel__Default"] = "Debug" };
        await using var tpt = await TptProcess.StartQuietAsync(config.Path, endPoint, env);
        await EchoOnceAsync(endPoint);
        tpt.Signal(TptProcess.SIGTERM);
        Assert.Equal(0, await tpt.WaitForExitAsync());
        Assert.DoesNotContain(tpt.Lines, l => l.Contains("info:", StringComparison.Ordinal) || l.Contains("dbug:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Logging_loglevel_default_overrides_the_configured_level()
    {
        var port = TptProcess.FreePort();
        using var config = new TempConfig(EchoConfig("log: info", port));
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        await using var tpt = await TptProcess.StartQuietAsync(config.Path, endPoint, new Dictionary<string, string?> { ["Logging__LogLevel__Default"] = "Warning" });
        await EchoOnceAsync(endPoint);
        tpt.Signal(TptProcess.SIGTERM);
        Assert.Equal(0, await tpt.WaitForExitAsync());
        Assert.DoesNotContain(tpt.Lines, l => l.Contains("outcome=completed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_invalid_tpt_log_is_an_error_before_anything_binds()
    {
        using var config = new TempConfig(EchoConfig("log: info"));
        var (exitCode, _, stderr) = await TptProcess.RunToExitAsync(["-c", config.Path], new Dictionary<string, string?> { ["TPT_LOG"] = "loud" });
        Assert.Equal(1, exitCode);
        Assert.Contains("TPT_LOG='loud' is not a log level", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Listening", stderr, StringComparison.Ordinal);
    }
}
