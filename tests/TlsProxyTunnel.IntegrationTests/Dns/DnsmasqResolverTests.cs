using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.IntegrationTests.Fixtures;

namespace TlsProxyTunnel.IntegrationTests.Dns;

/// <summary><see cref="DnsHostResolver"/> against a real dnsmasq on loopback.</summary>
public sealed class DnsmasqResolverTests
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_record_change_is_followed_after_its_ttl_without_restarting()
    {
        await using var dns = await DnsmasqFixture.StartAsync(["192.0.2.1 web.test"], ttl: 1).WaitAsync(TestTimeout);
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        using var resolver = Create(dns, new ResolverSettings { MinTtl = TimeSpan.FromSeconds(1), MaxTtl = TimeSpan.FromSeconds(5) }, time);

        var first = await Resolve(resolver, "web.test", AddressFamilyFilter.V4);
        Assert.Equal([IPAddress.Parse("192.0.2.1")], first.Addresses);

        await dns.ReplaceRecordsAsync(["192.0.2.2 web.test"]).WaitAsync(TestTimeout);

        // The resolver's clock, not the wall clock, decides expiry: just past the 1 s TTL the next lookup is fresh.
        time.Advance(TimeSpan.FromSeconds(1.1));
        var latest = await Resolve(resolver, "web.test", AddressFamilyFilter.V4);

        Assert.Equal([IPAddress.Parse("192.0.2.2")], latest.Addresses);
        Assert.False(latest.Stale);
    }

    [Fact]
    public async Task A_one_second_ttl_is_raised_to_min_ttl_and_refreshed_before_expiry()
    {
        await using var dns = await DnsmasqFixture.StartAsync(["192.0.2.3 short.test"], ttl: 1).WaitAsync(TestTimeout);
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        using var resolver = Create(dns, new ResolverSettings { MinTtl = TimeSpan.FromSeconds(30) }, time);

        Assert.True((await Resolve(resolver, "short.test", AddressFamilyFilter.V4)).Succeeded);
        Assert.Equal(1, resolver.Counters.Lookups);

        // Well past the record's own 1s TTL: still served from the cache.
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True((await Resolve(resolver, "short.test", AddressFamilyFilter.V4)).Succeeded);
        Assert.Equal(1, resolver.Counters.Lookups);

        // In the last 20% of min_ttl: the answer comes from the cache and a refresh starts behind it.
        time.Advance(TimeSpan.FromSeconds(15));
        var hit = await Resolve(resolver, "short.test", AddressFamilyFilter.V4);
        Assert.False(hit.Stale);
        await WaitUntil(() => resolver.Counters.Lookups == 2);

        // The refresh renewed the lifetime: no further lookup at the original expiry.
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True((await Resolve(resolver, "short.test", AddressFamilyFilter.V4)).Succeeded);
        Assert.Equal(2, resolver.Counters.Lookups);
    }

    [Fact]
    public async Task A_dead_dns_server_leaves_the_last_good_answer_in_service_until_stale_for_ends()
    {
        await using var dns = await DnsmasqFixture.StartAsync(["192.0.2.4 kept.test"], ttl: 1).WaitAsync(TestTimeout);
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        using var resolver = Create(dns, new ResolverSettings
        {
            MinTtl = TimeSpan.FromSeconds(5),
            StaleFor = TimeSpan.FromSeconds(60),
            Timeout = TimeSpan.FromSeconds(1),
        }, time);

        Assert.True((await Resolve(resolver, "kept.test", AddressFamilyFilter.V4)).Succeeded);
        Assert.Null(resolver.Inspect("other.test", AddressFamilyFilter.V4));
        time.Advance(TimeSpan.FromSeconds(2));

        // What the status page shows: the record's TTL of 1 s raised to min_ttl, and the answer's age.
        var fresh = resolver.Inspect("KEPT.test", AddressFamilyFilter.V4)!;
        Assert.Equal(DnsAnswerState.Fresh, fresh.State);
        Assert.Equal(TimeSpan.FromSeconds(5), fresh.Ttl);
        Assert.Equal(TimeSpan.FromSeconds(2), fresh.Age);
        Assert.Equal([IPAddress.Parse("192.0.2.4")], fresh.Addresses);

        await dns.KillAsync().WaitAsync(TestTimeout);
        time.Advance(TimeSpan.FromSeconds(4));

        var stale = await Resolve(resolver, "kept.test", AddressFamilyFilter.V4);

        Assert.True(stale.Succeeded, stale.Error);
        Assert.True(stale.Stale);
        Assert.Equal([IPAddress.Parse("192.0.2.4")], stale.Addresses);
        Assert.Equal(1, resolver.Counters.Failures);
        Assert.Equal(DnsAnswerState.Stale, resolver.Inspect(HostToResolve.Visible("kept.test"), AddressFamilyFilter.V4)!.State);

        // Right after a failure callers get the stale answer at once, without another lookup.
        var lookups = resolver.Counters.Lookups;
        var again = await Resolve(resolver, "kept.test", AddressFamilyFilter.V4);
        Assert.True(again.Stale);
        Assert.Equal(lookups, resolver.Counters.Lookups);
        Assert.Equal(2, resolver.Counters.StaleAnswers);

        // Past expiry + stale_for the old answer is no longer used.
        time.Advance(TimeSpan.FromSeconds(61));
        var gone = await Resolve(resolver, "kept.test", AddressFamilyFilter.V4);
        Assert.False(gone.Succeeded);
        Assert.Contains("kept.test", gone.Error, StringComparison.Ordinal);
        Assert.True(resolver.Counters.Failures >= 2);
        Assert.Equal(DnsAnswerState.Failed, resolver.Inspect(HostToResolve.Visible("kept.test"), AddressFamilyFilter.V4)!.State);
        Assert.Equal(DnsAnswerState.Local, resolver.Inspect(HostToResolve.Visible("127.0.0.1"), AddressFamilyFilter.V4)!.State);
    }

    [Fact]
    public async Task Family_filter_keeps_a_records_for_tcp4_aaaa_for_tcp6_and_both_for_tcp()
    {
        await using var dns = await DnsmasqFixture.StartAsync(["2001:db8::10 dual.test", "192.0.2.10 dual.test", "192.0.2.11 v4only.test"], ttl: 60).WaitAsync(TestTimeout);
        using var resolver = Create(dns, new ResolverSettings());

        Assert.Equal([IPAddress.Parse("192.0.2.10")], (await Resolve(resolver, "dual.test", AddressFamilyFilter.V4)).Addresses);
        Assert.Equal([IPAddress.Parse("2001:db8::10")], (await Resolve(resolver, "dual.test", AddressFamilyFilter.V6)).Addresses);
        Assert.Equal([IPAddress.Parse("192.0.2.10"), IPAddress.Parse("2001:db8::10")], (await Resolve(resolver, "dual.test", AddressFamilyFilter.Any)).Addresses);

        var none = await Resolve(resolver, "v4only.test", AddressFamilyFilter.V6);
        Assert.False(none.Succeeded);
        Assert.Contains("IPv6", none.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_name_that_never_resolved_fails_fast_and_is_negatively_cached()
    {
        await using var dns = await DnsmasqFixture.StartAsync(["192.0.2.5 other.test"], ttl: 60).WaitAsync(TestTimeout);
        // The answer is NXDOMAIN, so the lookup must end well before the query timeout would.
        using var resolver = Create(dns, new ResolverSettings { Timeout = TimeSpan.FromSeconds(5) });
        var clock = Stopwatch.StartNew();

        var missing = await Resolve(resolver, "missing.test", AddressFamilyFilter.Any);

        Assert.False(missing.Succeeded);
        Assert.Empty(missing.Addresses);
        Assert.Contains("cannot resolve 'missing.test'", missing.Error, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}, as long as the query timeout");

        var lookups = resolver.Counters.Lookups;
        var again = await Resolve(resolver, "missing.test", AddressFamilyFilter.Any);
        Assert.False(again.Succeeded);
        Assert.Equal(lookups, resolver.Counters.Lookups);
    }

    [Fact]
    public async Task Concurrent_callers_on_a_cold_name_share_one_lookup()
    {
        await using var dns = await DnsmasqFixture.StartAsync(["192.0.2.6 busy.test", "2001:db8::6 busy.test"], ttl: 60).WaitAsync(TestTimeout);
        using var resolver = Create(dns, new ResolverSettings());

        var results = await Task.WhenAll(Enumerable.Range(0, 100)
            .Select(_ => Task.Run(() => resolver.ResolveAsync("busy.test", AddressFamilyFilter.Any, default).AsTask())))
            .WaitAsync(TestTimeout);

        Assert.All(results, r => Assert.Equal(2, r.Addresses.Count));
        Assert.Equal(2, resolver.Counters.Lookups); // one A and one AAAA question
    }

    [Fact]
    public async Task Short_names_use_the_resolv_conf_search_list_and_ndots()
    {
        await using var dns = await DnsmasqFixture.StartAsync(["192.0.2.7 squid.proxy.svc.test"], ttl: 60).WaitAsync(TestTimeout);
        using var resolver = Create(dns, new ResolverSettings(), resolvConf: "search svc.test\noptions ndots:5\n");

        var result = await Resolve(resolver, "squid.proxy", AddressFamilyFilter.V4);

        Assert.True(result.Succeeded, result.Error);
        Assert.Equal([IPAddress.Parse("192.0.2.7")], result.Addresses);
        Assert.Equal(1, resolver.Counters.Lookups); // fewer dots than ndots: the search list goes first

        var absolute = await Resolve(resolver, "squid.proxy.", AddressFamilyFilter.V4);
        Assert.False(absolute.Succeeded); // a trailing dot means the name as written only
    }

    [Fact]
    public async Task A_hidden_name_is_never_quoted_in_an_error_not_even_inside_a_search_candidate()
    {
        await using var dns = await DnsmasqFixture.StartAsync(["192.0.2.8 other.svc.test"], ttl: 60).WaitAsync(TestTimeout);
        using var resolver = Create(dns, new ResolverSettings(), resolvConf: "search svc.test\noptions ndots:5\n");
        var hidden = new HostToResolve("secret-name", "the host of upstream 'api' (hidden: from the environment)", Hidden: true);

        var result = await resolver.ResolveAsync(hidden, AddressFamilyFilter.V4, default).AsTask().WaitAsync(TestTimeout);

        Assert.False(result.Succeeded);
        Assert.StartsWith("cannot resolve the host of upstream 'api' (hidden: from the environment) (IPv4): ", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", result.Error, StringComparison.Ordinal);

        // Both candidates were asked for; the error names the one it reports by its search domain only.
        await dns.AssertLoggedAsync("secret-name.svc.test");
        Assert.Matches(@"\(hidden\)(\.svc\.test)? A", result.Error);
    }

    [Fact]
    public async Task Hosts_file_localhost_and_literals_resolve_without_dns()
    {
        await using var dns = await DnsmasqFixture.StartAsync([], ttl: 60).WaitAsync(TestTimeout);
        using var resolver = Create(dns, new ResolverSettings(), hosts: "10.1.2.3 compose-db db # comment\n::1 ip6-localhost\n");

        Assert.Equal([IPAddress.Parse("10.1.2.3")], (await Resolve(resolver, "Compose-DB", AddressFamilyFilter.Any)).Addresses);
        Assert.Equal([IPAddress.Loopback], (await Resolve(resolver, "localhost", AddressFamilyFilter.V4)).Addresses);
        Assert.Equal([IPAddress.Loopback, IPAddress.IPv6Loopback], (await Resolve(resolver, "localhost", AddressFamilyFilter.Any)).Addresses);
        Assert.Equal([IPAddress.Parse("2001:db8::1")], (await Resolve(resolver, "[2001:db8::1]", AddressFamilyFilter.Any)).Addresses);
        Assert.False((await Resolve(resolver, "192.0.2.1", AddressFamilyFilter.V6)).Succeeded);
        Assert.Equal(0, resolver.Counters.Lookups);
    }

    private static DnsHostResolver Create(
        DnsmasqFixture dns,
        ResolverSettings settings,
        TimeProvider? time = null,
        string resolvConf = "",
        string hosts = "")
    {
        var id = Guid.NewGuid().ToString("N");
        var resolvPath = Path.Combine(dns.Directory, $"resolv-{id}.conf");
        var hostsPath = Path.Combine(dns.Directory, $"hosts-{id}");
        File.WriteAllText(resolvPath, resolvConf);
        File.WriteAllText(hostsPath, hosts);
        return new DnsHostResolver(settings with { Nameservers = [dns.EndPoint] }, time, files: new SystemResolverFiles(hostsPath, resolvPath));
    }

    private static Task<ResolveResult> Resolve(DnsHostResolver resolver, string host, AddressFamilyFilter family) =>
        resolver.ResolveAsync(host, family, default).AsTask().WaitAsync(TestTimeout);

    private static async Task WaitUntil(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TestTimeout, "condition not met in time");
            await Task.Delay(20);
        }
    }
}
