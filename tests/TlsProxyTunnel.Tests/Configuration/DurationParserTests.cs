using TlsProxyTunnel.Configuration;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

public sealed class DurationParserTests
{
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
    public void Parses(string text, long milliseconds)
    {
        Assert.True(DurationParser.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("30")]
    [InlineData("s")]
    [InlineData("1.5s")]
    [InlineData("-1s")]
    [InlineData("10 s")]
    [InlineData("5y")]
    [InlineData("1h,30m")]
    public void Rejects(string text) => Assert.False(DurationParser.TryParse(text, out _));

    [Fact]
    public void BareNumberErrorNamesTheExpectedForm()
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
    public void NonPositiveDurationsAreErrors(string body)
    {
        Assert.Contains("longer than zero", SingleError(WithServer(body)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OptionalDurationsTakeOffOrZero()
    {
        var config = LoadOk(WithServer("    idle_timeout: off\n    via:\n      target: proxy:3128\n      stats_interval: 0s"));
        Assert.Null(config.Servers[0].IdleTimeout);
        Assert.Null(config.Servers[0].Via.StatsInterval);
    }

    [Fact]
    public void DurationsAreMapped()
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
