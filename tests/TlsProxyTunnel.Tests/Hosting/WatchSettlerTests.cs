using Microsoft.Extensions.Time.Testing;
using TlsProxyTunnel.Hosting;

namespace TlsProxyTunnel.Tests.Hosting;

public sealed class WatchSettlerTests
{
    private static readonly WatchTiming Timing = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(2));
    private static readonly FileStamp Half = new("/etc/tpt/tpt.yaml", 100, new DateTime(2026, 11, 29, 12, 0, 0, DateTimeKind.Utc));
    private static readonly FileStamp Whole = Half with { Length = 250, LastWriteUtc = Half.LastWriteUtc.AddMilliseconds(300) };

    [Fact]
    public void A_file_is_loaded_only_after_a_full_settle_period_without_events()
    {
        var time = new FakeTimeProvider();
        var settler = new WatchSettler(time, Timing);
        settler.Changed(Half);
        time.Advance(TimeSpan.FromMilliseconds(600));
        Assert.Equal(TimeSpan.FromMilliseconds(400), settler.WaitBeforeLoading(Half));

        // The second write restarts the period.
        settler.Changed(Whole);
        time.Advance(TimeSpan.FromMilliseconds(600));
        Assert.Equal(TimeSpan.FromMilliseconds(400), settler.WaitBeforeLoading(Whole));
        time.Advance(TimeSpan.FromMilliseconds(400));
        Assert.Null(settler.WaitBeforeLoading(Whole));
    }

    [Fact]
    public void A_write_that_raised_no_event_is_seen_by_its_stamp_and_restarts_the_period()
    {
        var time = new FakeTimeProvider();
        var settler = new WatchSettler(time, Timing);
        settler.Changed(Half);
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(Timing.Settle, settler.WaitBeforeLoading(Whole));
        time.Advance(Timing.Settle);
        Assert.Null(settler.WaitBeforeLoading(Whole));
    }

    [Fact]
    public void A_symlink_swap_to_a_file_of_the_same_size_and_time_is_still_a_change()
    {
        var time = new FakeTimeProvider();
        var settler = new WatchSettler(time, Timing);
        settler.Changed(Half);
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(Timing.Settle, settler.WaitBeforeLoading(Half with { Target = "/etc/tpt/..v2/tpt.yaml" }));
    }

    [Fact]
    public void Errors_and_removals_wait_for_their_own_longer_quiet_periods_counted_from_the_last_change()
    {
        var time = new FakeTimeProvider();
        var settler = new WatchSettler(time, Timing);
        settler.Changed(Half);
        time.Advance(Timing.Settle);
        Assert.Null(settler.WaitBeforeLoading(Half));
        Assert.Equal(TimeSpan.FromSeconds(1), settler.WaitBeforeReportingErrors());
        Assert.Equal(TimeSpan.FromSeconds(2), settler.WaitBeforeRemoving());

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(settler.WaitBeforeReportingErrors());
        Assert.Equal(TimeSpan.FromSeconds(1), settler.WaitBeforeRemoving());

        // A new write while waiting starts everything over.
        settler.Changed(Whole);
        Assert.Equal(Timing.ErrorGrace, settler.WaitBeforeReportingErrors());
        time.Advance(Timing.RemovalSettle);
        Assert.Null(settler.WaitBeforeRemoving());
    }
}
