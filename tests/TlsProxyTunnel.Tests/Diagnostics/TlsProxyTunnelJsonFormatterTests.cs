using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Tests.Diagnostics;

public sealed class TlsProxyTunnelJsonFormatterTests
{
    private static string Format(LogLevel level, string message, Exception? exception = null, DateTimeOffset? now = null)
    {
        var time = new FakeTimeProvider(now ?? new DateTimeOffset(2026, 3, 22, 10, 0, 0, 123, TimeSpan.Zero));
        var formatter = new TlsProxyTunnelJsonFormatter(time);
        using var output = new StringWriter();
        formatter.Write(new LogEntry<string>(level, "TlsProxyTunnel.Access", new EventId(6), message, exception, (s, _) => s), null, output);
        return output.ToString();
    }

    [Fact]
    public void Writes_exactly_tls_proxy_tunnels_fields_on_one_line()
    {
        var line = Format(LogLevel.Information, "client=127.0.0.1:5 outcome=completed");
        Assert.EndsWith("\n", line, StringComparison.Ordinal);
        Assert.Equal(
            """{"ts":"2026-03-22T10:00:00.123Z","level":"INFO","target":"TlsProxyTunnel.Access","msg":"client=127.0.0.1:5 outcome=completed"}""",
            line.TrimEnd('\n'));
    }

    [Theory]
    [InlineData(LogLevel.Trace, "TRACE")]
    [InlineData(LogLevel.Debug, "DEBUG")]
    [InlineData(LogLevel.Information, "INFO")]
    [InlineData(LogLevel.Warning, "WARN")]
    [InlineData(LogLevel.Error, "ERROR")]
    [InlineData(LogLevel.Critical, "ERROR")]
    public void Levels_are_the_rust_log_crates_names(LogLevel level, string expected)
    {
        using var json = JsonDocument.Parse(Format(level, "m"));
        Assert.Equal(expected, json.RootElement.GetProperty("level").GetString());
    }

    [Fact]
    public void The_timestamp_is_rfc3339_utc_with_the_fraction_trimmed_and_none_when_whole()
    {
        using var whole = JsonDocument.Parse(Format(LogLevel.Information, "m", now: new DateTimeOffset(2026, 3, 22, 10, 0, 0, TimeSpan.Zero)));
        Assert.Equal("2026-03-22T10:00:00Z", whole.RootElement.GetProperty("ts").GetString());

        // A local offset is written in UTC.
        using var fine = JsonDocument.Parse(Format(LogLevel.Information, "m", now: new DateTimeOffset(2026, 3, 22, 12, 0, 0, TimeSpan.FromHours(2)).AddTicks(1_234_560)));
        Assert.Equal("2026-03-22T10:00:00.123456Z", fine.RootElement.GetProperty("ts").GetString());
    }

    [Fact]
    public void Quotes_control_characters_and_line_breaks_stay_inside_one_valid_line()
    {
        const string hostile = "sni=\"a\"\r\n{\"level\":\"ERROR\"}\u0001\u001b[31m\\ <b>é</b>";
        var line = Format(LogLevel.Warning, hostile);
        Assert.Single(line.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain('\r', line);
        using var json = JsonDocument.Parse(line);
        Assert.Equal(hostile, json.RootElement.GetProperty("msg").GetString());
        Assert.Equal(4, json.RootElement.EnumerateObject().Count());
    }

    [Fact]
    public void An_exception_goes_into_msg()
    {
        using var json = JsonDocument.Parse(Format(LogLevel.Error, "bind failed", new InvalidOperationException("address in use")));
        var msg = json.RootElement.GetProperty("msg").GetString()!;
        Assert.StartsWith("bind failed", msg, StringComparison.Ordinal);
        Assert.Contains("address in use", msg, StringComparison.Ordinal);
    }

    [Fact]
    public void A_very_long_message_is_written_whole_and_the_next_line_is_unaffected()
    {
        var longMessage = new string('x', 200_000);
        using (var json = JsonDocument.Parse(Format(LogLevel.Information, longMessage)))
        {
            Assert.Equal(longMessage, json.RootElement.GetProperty("msg").GetString());
        }

        using var next = JsonDocument.Parse(Format(LogLevel.Information, "short"));
        Assert.Equal("short", next.RootElement.GetProperty("msg").GetString());
    }
}
