using Microsoft.Extensions.Time.Testing;
using TlsProxyTunnel.Diagnostics.Status;

namespace TlsProxyTunnel.Tests.Diagnostics.Status;

public sealed class CounterRatesTests
{
    private static readonly TimeSpan TenSeconds = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan OneMinute = TimeSpan.FromMinutes(1);

    [Fact]
    public void A_rate_is_unknown_until_the_process_has_a_sample_that_old()
    {
        var time = new FakeTimeProvider();
        long counter = 0;
        using var rates = new CounterRates(time, () => [new("c", counter)]);

        Assert.Null(rates.PerSecond("c", counter, TenSeconds));
        counter = 40;
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Null(rates.PerSecond("c", counter, TenSeconds));
        time.Advance(TimeSpan.FromSeconds(5));

        // The sample taken at start is now 10 s old: 40 in 10 s.
        Assert.Equal(4.0, rates.PerSecond("c", counter, TenSeconds));
        Assert.Null(rates.PerSecond("c", counter, OneMinute));
    }

    [Fact]
    public void A_rate_uses_the_newest_sample_at_least_a_window_old_and_the_value_now()
    {
        var time = new FakeTimeProvider();
        long counter = 0;
        using var rates = new CounterRates(time, () => [new("c", counter)]);

        // 1 event per second for two minutes, sampled by the timer every 5 s.
        for (var second = 0; second < 120; second++)
        {
            counter++;
            time.Advance(TimeSpan.FromSeconds(1));
        }

        // Then a burst: 30 more in the last 2 s.
        counter += 30;
        time.Advance(TimeSpan.FromSeconds(2));

        // The newest sample >= 10 s old was taken at t=110 (counter 110), now t=122 with 150: 40 in 12 s.
        Assert.Equal(40.0 / 12, rates.PerSecond("c", counter, TenSeconds)!.Value, 6);

        // For a minute: the sample at t=60 (counter 60): 90 in 62 s.
        Assert.Equal(90.0 / 62, rates.PerSecond("c", counter, OneMinute)!.Value, 6);
    }

    [Fact]
    public void A_counter_that_appeared_after_a_sample_counted_from_zero_then()
    {
        var time = new FakeTimeProvider();
        var counters = new Dictionary<string, long>();
        using var rates = new CounterRates(time, () => counters);
        time.Advance(TenSeconds);
        counters["new"] = 20;
        Assert.Equal(2.0, rates.PerSecond("new", 20, TenSeconds));
    }
}
