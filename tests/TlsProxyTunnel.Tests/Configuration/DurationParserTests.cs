using TlsProxyTunnel.Configuration;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

public sealed class DurationParserTests
{
    /// <summary>Our earlier forms and humantime's whole grammar (the parser tls-proxy-tunnel's files are written for).</summary>
    [Theory]
    [InlineData("100ms", 100)]
    [InlineData("30s", 30_000)]
    [InlineData("1m", 60_000)]
    [InlineData("2h", 7_200_000)]
    [InlineData("1h 30m", 5_400_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("1m 1s 1ms", 61_001)]
    [InlineData("1d", 86_400_000)]
    [InlineData("0s", 0)]
    [InlineData("10sec", 10_000)]
    [InlineData("1second", 1_000)]
    [InlineData("2seconds", 2_000)]
    [InlineData("1min", 60_000)]
    [InlineData("1minute", 60_000)]
    [InlineData("3minutes", 180_000)]
    [InlineData("1hr", 3_600_000)]
    [InlineData("1hour", 3_600_000)]
    [InlineData("2hours", 7_200_000)]
    [InlineData("1day", 86_400_000)]
    [InlineData("2days", 172_800_000)]
    [InlineData("1w", 604_800_000)]
    [InlineData("1week", 604_800_000)]
    [InlineData("2weeks", 1_209_600_000)]
    [InlineData("250msec", 250)]
    [InlineData("5 s", 5_000)]
    [InlineData("2h 37min", 9_420_000)]
    [InlineData("1hour 12min 5s", 4_325_000)]
    [InlineData("  5s  ", 5_000)]
    [InlineData("1h  30m", 5_400_000)]
    [InlineData("1 h 30 m", 5_400_000)]
    public void Parses(string text, long milliseconds)
    {
        Assert.True(DurationParser.TryParse(text, out var value), text);
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    /// <summary>Below a millisecond: humantime's ns and us units; a positive value never rounds down to zero.</summary>
    [Theory]
    [InlineData("500us", 5_000)]
    [InlineData("500usec", 5_000)]
    [InlineData("1500ns", 15)]
    [InlineData("1nsec", 1)]
    [InlineData("1ns", 1)]
    [InlineData("1s 500us", 10_005_000)]
    public void Parses_below_a_millisecond(string text, long ticks)
    {
        Assert.True(DurationParser.TryParse(text, out var value), text);
        Assert.Equal(TimeSpan.FromTicks(ticks), value);
    }

    /// <summary>humantime's month is 30.44 days and its year 365.25 days; both are over the 24-day maximum.</summary>
    [Theory]
    [InlineData("1M", 2_630_016)]
    [InlineData("1month", 2_630_016)]
    [InlineData("2months", 5_260_032)]
    [InlineData("1y", 31_557_600)]
    [InlineData("1year", 31_557_600)]
    [InlineData("2years", 63_115_200)]
    public void Months_and_years_have_humantimes_lengths(string text, long seconds)
    {
        Assert.True(DurationParser.TryParse(text, out var value), text);
        Assert.Equal(seconds > DurationParser.Maximum.TotalSeconds ? TimeSpan.MaxValue : TimeSpan.FromSeconds(seconds), value);
        Assert.True(value > DurationParser.Maximum);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("30")]
    [InlineData("s")]
    [InlineData("-1s")]
    [InlineData("1h,30m")]
    [InlineData("1x")]
    [InlineData("1 secs")]
    [InlineData("1S")]
    [InlineData("1H")]
    [InlineData("5s 3")]
    [InlineData("1h-30m")]
    [InlineData("99999999999999999999999s")]
    public void Rejects(string text) => Assert.False(DurationParser.TryParse(text, out _), text);

    [Theory]
    [InlineData("    client_hello_timeout: 10sec")]
    [InlineData("    idle_timeout: 2h 37min")]
    [InlineData("    via:\n      connect_timeout: 5 s")]
    [InlineData("    via:\n      stats_interval: 1w")]
    [InlineData("    via:\n      handshake_timeout: 500us")]
    public void Humantime_durations_load_under_every_duration_key(string body) => LoadOk(WithServer(body));

    [Fact]
    public void A_year_is_refused_as_longer_than_the_maximum()
    {
        Assert.Contains("at most 24 days", SingleError(WithServer("    idle_timeout: 1y")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bare_number_error_names_the_expected_form()
    {
        var error = SingleError(WithServer("    via:\n      connect_timeout: 30"));
        Assert.Equal(7, error.Line);
        Assert.Contains("'connect_timeout' must be a duration such as '100ms', '30s'", error.Message, StringComparison.Ordinal);
        Assert.Contains("bare number", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("    client_hello_timeout: 0s")]
    [InlineData("    via:\n      connect_timeout: 0ms")]
    [InlineData("    via:\n      handshake_timeout: 0s")]
    public void Non_positive_durations_are_errors(string body)
    {
        Assert.Contains("longer than zero", SingleError(WithServer(body)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Optional_durations_take_off_or_zero()
    {
        var config = LoadOk(WithServer("    idle_timeout: off\n    via:\n      target: proxy:3128\n      stats_interval: 0s"));
        Assert.Null(config.Servers[0].IdleTimeout);
        Assert.Null(config.Servers[0].Via.StatsInterval);
    }

    [Fact]
    public void Durations_are_mapped()
    {
        const string yaml = """
            version: 2
            shutdown_timeout: 1m 30s
            resolver:
              nameservers: ["1.1.1.1", "10.0.0.2:5353", "[2606:4700::1111]:53", "::1"]
              min_ttl: 1s
              max_ttl: 1h
              timeout: 500ms
              stale_for: off
            servers:
              web:
                listen: ["127.0.0.1:8443"]
                client_hello_timeout: 3s
                idle_timeout: 1h
                via:
                  target: proxy:3128
                  connect_timeout: 5s
                  stats_interval: 10s
            """;
        var config = LoadOk(yaml);
        Assert.Equal(TimeSpan.FromSeconds(90), config.ShutdownTimeout);
        Assert.Equal(TimeSpan.FromSeconds(1), config.Resolver.MinTtl);
        Assert.Equal(TimeSpan.FromHours(1), config.Resolver.MaxTtl);
        Assert.Equal(TimeSpan.FromMilliseconds(500), config.Resolver.Timeout);
        Assert.Equal(TimeSpan.Zero, config.Resolver.StaleFor);
        Assert.Equal(["1.1.1.1:53", "10.0.0.2:5353", "[2606:4700::1111]:53", "[::1]:53"], config.Resolver.Nameservers.Select(e => e.ToString()));
        var server = config.Servers[0];
        Assert.Equal(TimeSpan.FromSeconds(3), server.ClientHelloTimeout);
        Assert.Equal(TimeSpan.FromHours(1), server.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(5), server.Via.ConnectTimeout);
        Assert.Equal(TimeSpan.FromSeconds(5), server.Via.EffectiveHandshakeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), server.Via.StatsInterval);
    }
}
