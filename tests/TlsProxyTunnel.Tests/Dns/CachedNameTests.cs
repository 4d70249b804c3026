using System.Net;
using TlsProxyTunnel.Dns;

namespace TlsProxyTunnel.Tests.Dns;

/// <summary>The fresh / refresh / stale / negative rules of one cached name, on their own, at chosen instants.</summary>
public sealed class CachedNameTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch;
    private static readonly ResolveResult Good = ResolveResult.Success([IPAddress.Parse("192.0.2.1")]);
    private static readonly ResolveResult Bad = ResolveResult.Failure("cannot resolve 'x.test' (IPv4): no A record");
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan StaleFor = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan NegativeTtl = TimeSpan.FromSeconds(5);

    [Fact]
    public void A_new_name_has_no_answer_and_must_be_looked_up()
    {
        var name = new CachedName("x.test");
        Assert.Null(name.Answer(T0, out var refresh));
        Assert.False(refresh);
    }

    [Fact]
    public void A_good_answer_serves_its_ttl_and_asks_for_a_refresh_in_the_last_fifth()
    {
        var name = new CachedName("x.test");
        name.Succeeded(Good, Ttl, StaleFor, T0);

        Assert.Same(Good, name.Answer(T0 + TimeSpan.FromSeconds(7.9), out var early));
        Assert.False(early);
        Assert.Same(Good, name.Answer(T0 + TimeSpan.FromSeconds(8), out var late));
        Assert.True(late);

        // Expired and no failure on record: a caller must wait for a lookup.
        Assert.Null(name.Answer(T0 + Ttl, out _));
    }

    [Fact]
    public void A_failed_refresh_serves_the_last_good_answer_as_stale_until_stale_for_ends()
    {
        var name = new CachedName("x.test");
        name.Succeeded(Good, Ttl, StaleFor, T0);
        var expired = T0 + Ttl + TimeSpan.FromSeconds(1);

        var served = name.Failed(Bad, NegativeTtl, expired, out var staleLeft, out var log);

        Assert.True(served.Stale);
        Assert.Equal(Good.Addresses, served.Addresses);
        Assert.Equal(StaleFor - TimeSpan.FromSeconds(1), staleLeft);
        Assert.True(log);

        // Within the negative TTL the stale answer comes at once; after it, a new lookup is due.
        Assert.Same(served, name.Answer(expired + TimeSpan.FromSeconds(4), out _));
        Assert.Null(name.Answer(expired + NegativeTtl, out _));

        // Past stale_for a failure is the answer.
        Assert.Same(Bad, name.Failed(Bad, NegativeTtl, T0 + Ttl + StaleFor, out var none, out _));
        Assert.Equal(TimeSpan.Zero, none);
    }

    [Fact]
    public void A_name_that_never_resolved_fails_from_memory_for_the_negative_ttl_and_logs_once_per_30_seconds()
    {
        var name = new CachedName("x.test");
        Assert.Same(Bad, name.Failed(Bad, NegativeTtl, T0, out _, out var first));
        Assert.True(first);
        Assert.Same(Bad, name.Answer(T0 + TimeSpan.FromSeconds(4.9), out _));
        Assert.Null(name.Answer(T0 + NegativeTtl, out _));

        name.Failed(Bad, NegativeTtl, T0 + TimeSpan.FromSeconds(29), out _, out var quiet);
        Assert.False(quiet);
        name.Failed(Bad, NegativeTtl, T0 + TimeSpan.FromSeconds(30), out _, out var again);
        Assert.True(again);
    }

    [Fact]
    public void Success_after_failures_clears_them()
    {
        var name = new CachedName("x.test");
        name.Failed(Bad, NegativeTtl, T0, out _, out _);
        name.Succeeded(Good, Ttl, StaleFor, T0 + TimeSpan.FromSeconds(1));
        Assert.Same(Good, name.Answer(T0 + TimeSpan.FromSeconds(2), out var refresh));
        Assert.False(refresh);
    }
}
