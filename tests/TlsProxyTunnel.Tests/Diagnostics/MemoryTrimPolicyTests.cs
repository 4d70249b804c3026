using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Tests.Diagnostics;

public sealed class MemoryTrimPolicyTests
{
    [Fact]
    public void A_large_drop_seen_twice_trims_once_then_waits_for_a_new_peak()
    {
        var policy = new MemoryTrimPolicy();
        Assert.False(policy.Observe(5000));
        Assert.False(policy.Observe(0));
        Assert.True(policy.Observe(0));

        // The high-water mark restarted at 0: nothing more to give back.
        Assert.False(policy.Observe(0));
        Assert.False(policy.Observe(0));
    }

    [Fact]
    public void A_dip_that_recovers_does_not_trim()
    {
        var policy = new MemoryTrimPolicy();
        Assert.False(policy.Observe(1000));
        Assert.False(policy.Observe(100));
        Assert.False(policy.Observe(900));
        Assert.False(policy.Observe(100));
        Assert.False(policy.Observe(1000));
    }

    [Theory]
    [InlineData(100, 60)]   // fell by 40 only: under the minimum drop
    [InlineData(1000, 600)] // fell by 40 %, not by half
    public void A_small_drop_never_trims(int peak, int after)
    {
        var policy = new MemoryTrimPolicy();
        policy.Observe(peak);
        for (var i = 0; i < 10; i++)
        {
            Assert.False(policy.Observe(after));
        }
    }

    [Fact]
    public void A_drop_to_a_lower_plateau_trims_and_a_second_peak_trims_again()
    {
        var policy = new MemoryTrimPolicy();
        policy.Observe(400);
        Assert.False(policy.Observe(200));
        Assert.True(policy.Observe(150));
        Assert.False(policy.Observe(3000));
        Assert.False(policy.Observe(10));
        Assert.True(policy.Observe(10));
    }
}
