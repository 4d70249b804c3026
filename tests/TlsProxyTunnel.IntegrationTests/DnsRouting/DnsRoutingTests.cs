using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.IntegrationTests.Fixtures;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.Via;

namespace TlsProxyTunnel.IntegrationTests.DnsRouting;

/// <summary>
/// The tpt binary resolving its upstream through a real dnsmasq. Backends differ by loopback address
/// (127.0.0.2, 127.0.0.3, …) on one shared port, so only the DNS answer decides which one is reached.
/// </summary>
public sealed class DnsRoutingTests
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(15);
    private static readonly IPAddress AddressA = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress AddressB = IPAddress.Parse("127.0.0.3");

    // Nothing ever listens here: connections to it are refused.
    private static readonly IPAddress DeadAddress = IPAddress.Parse("127.0.0.4");

    [Fact]
    public async Task A_record_change_is_followed_within_min_ttl_without_restarting()
    {
        await using var backends = await SharedPortBackendsAsync();
        var (a, b) = (backends.A, backends.B);
        await using var dns = await DnsmasqFixture.StartAsync([$"{AddressA} backend.test"], ttl: 1).WaitAsync(TestTimeout);
        await using var tpt = await StartRouterAsync(dns, $"tcp4://backend.test:{a.Port}");

        await ViaAssert.RoundTripAsync(tpt.EndPoint("plain"), "first"u8.ToArray(), a, dns.Output).WaitAsync(TestTimeout);

        await dns.ReplaceRecordsAsync([$"{AddressB} backend.test"]).WaitAsync(TestTimeout);
        var tag = a.Tag;
        var took = await PollUntilAsync(async () => (tag = await BannerAsync(tpt.EndPoint("plain"))) == b.Tag);

        Assert.True(tag == b.Tag, $"still reaching {tag} {took} after the change\n{dns.Output}\n{tpt.Process.AllOutput}");

        // min_ttl is 1s: the new record is picked up by the refresh at ~0.8s or the expiry at 1s after the last
        // lookup. The bound is only generous: it tells min_ttl (1 s) from max_ttl (1 min), not how busy the machine is.
        Assert.True(took < TimeSpan.FromSeconds(20), $"took {took}");
        await ViaAssert.RoundTripAsync(tpt.EndPoint("plain"), "second"u8.ToArray(), b, dns.Output).WaitAsync(TestTimeout);
    }

    [Fact]
    public async Task A_dead_dns_server_leaves_connections_working_on_the_last_good_answer_and_its_return_is_followed()
    {
        await using var backends = await SharedPortBackendsAsync();
        var a = backends.A;
        await using var dns = await DnsmasqFixture.StartAsync([$"{AddressA} backend.test"], ttl: 1).WaitAsync(TestTimeout);
        await using var tpt = await StartRouterAsync(dns, $"tcp4://backend.test:{a.Port}");
        Assert.Equal(a.Tag, await BannerAsync(tpt.EndPoint("plain")).WaitAsync(TestTimeout));

        await dns.KillAsync().WaitAsync(TestTimeout);

        // Keep connecting until the 1s answer has expired and a failed refresh made tpt serve it stale;
        // every one of those connections must still reach the backend.
        long stale = 0;
        var took = await PollUntilAsync(async () =>
        {
            Assert.Equal(a.Tag, await BannerAsync(tpt.EndPoint("plain")));
            stale = await tpt.MetricAsync("health", "tpt_dns_stale_answers_total");
            return stale > 0;
        });

        Assert.True(stale > 0, $"no stale answer counted after {took}\n{tpt.Process.AllOutput}");
        await tpt.Process.WaitForLineAsync(l => l.Contains("DNS lookup for backend.test", StringComparison.Ordinal)
            && l.Contains("serving the last good answer", StringComparison.Ordinal));

        // And it keeps working, still counting stale answers.
        await ViaAssert.RoundTripAsync(tpt.EndPoint("plain"), "after the server died"u8.ToArray(), a, tpt.Process.AllOutput).WaitAsync(TestTimeout);
        Assert.True(await tpt.MetricAsync("health", "tpt_dns_stale_answers_total").WaitAsync(TestTimeout) >= stale);

        // The server comes back, now answering with B: the next refresh must pick that up.
        await dns.RestartAsync([$"{AddressB} backend.test"], ttl: 1).WaitAsync(TestTimeout);
        var tag = "";
        var back = await PollUntilAsync(async () =>
        {
            tag = await BannerAsync(tpt.EndPoint("plain"));
            return tag == backends.B.Tag;
        });

        Assert.True(tag == backends.B.Tag, $"still {tag} {back} after the DNS server came back\n{tpt.Process.AllOutput}\n{dns.Output}");
        await ViaAssert.RoundTripAsync(tpt.EndPoint("plain"), "after the server came back"u8.ToArray(), backends.B, dns.Output).WaitAsync(TestTimeout);
    }

    [Fact]
    public async Task Connections_fail_over_from_a_refusing_first_address_to_the_live_one()
    {
        await using var backends = await SharedPortBackendsAsync();
        var (a, b) = (backends.A, backends.B);

        // Two A records; rotation makes every other connection start at the dead one.
        await using var dns = await DnsmasqFixture.StartAsync([$"{DeadAddress} multi.test", $"{AddressA} multi.test"], ttl: 60).WaitAsync(TestTimeout);
        await using var tpt = await StartRouterAsync(dns, $"tcp4://multi.test:{a.Port}");

        for (var i = 0; i < 4; i++)
        {
            await ViaAssert.RoundTripAsync(tpt.EndPoint("plain"), [(byte)i], a, tpt.Process.AllOutput).WaitAsync(TestTimeout);
        }

        Assert.Equal(4, a.Accepted);
        Assert.Equal(0, b.Accepted);
        Assert.DoesNotContain("unreachable", tpt.Process.AllOutput, StringComparison.Ordinal);

        // dnsmasq did hand out the dead address, so the connections above really failed over.
        await dns.AssertLoggedAsync($"multi.test is {DeadAddress}");
    }

    [Fact]
    public async Task Tcp6_with_only_a_records_fails_with_a_clear_log_line()
    {
        await using var backend = new TestBackend("V4ONLY");
        await using var dns = await DnsmasqFixture.StartAsync(["127.0.0.1 v4only.test"], ttl: 60).WaitAsync(TestTimeout);
        await using var tpt = await StartRouterAsync(dns, $"tcp6://v4only.test:{backend.Port}");

        var took = await ViaAssert.ClosedWithoutBytesAsync(tpt.EndPoint("plain"), "hello"u8.ToArray()).WaitAsync(TestTimeout);

        // The lookup's own answer ends it (the log line below): well before connect_timeout (2 s) plus the resolver's
        // timeout would. Only a generous bound here; the log line is the check.
        Assert.True(took < TimeSpan.FromSeconds(10), $"took {took}");
        var dnsLine = await tpt.Process.WaitForLineAsync(l => l.Contains("DNS lookup for v4only.test (IPv6) failed", StringComparison.Ordinal));
        Assert.Contains("no AAAA record", dnsLine, StringComparison.Ordinal);
        await tpt.Process.WaitForLineAsync(l => l.Contains("upstream tcp6://v4only.test", StringComparison.Ordinal) && l.Contains("unreachable", StringComparison.Ordinal));
        Assert.Equal(0, backend.Accepted);
    }

    [Fact]
    public async Task A_host_from_the_environment_never_appears_in_a_log_line_the_upstream_is_named_instead()
    {
        await using var dns = await DnsmasqFixture.StartAsync(["127.0.0.1 other.test"], ttl: 60).WaitAsync(TestTimeout);
        await using var tpt = await StartRouterAsync(dns, "tcp4://${BACKEND_HOST}:443", new Dictionary<string, string?> { ["BACKEND_HOST"] = "secret-backend.test" });

        await ViaAssert.ClosedWithoutBytesAsync(tpt.EndPoint("plain"), "hello"u8.ToArray()).WaitAsync(TestTimeout);

        var dnsLine = await tpt.Process.WaitForLineAsync(l => l.Contains("DNS lookup for the host of upstream 'backend' (hidden: from the environment) (IPv4) failed", StringComparison.Ordinal));
        Assert.Contains(" for (hidden) A", dnsLine, StringComparison.Ordinal);
        var unreachable = await tpt.Process.WaitForLineAsync(l => l.Contains("unreachable", StringComparison.Ordinal));
        Assert.Contains("tcp4://${BACKEND_HOST}:443", unreachable, StringComparison.Ordinal);
        Assert.Contains("cannot resolve the host of upstream 'backend'", unreachable, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-backend", tpt.Process.AllOutput, StringComparison.Ordinal);

        // dnsmasq was asked for the real name: the lookup happened, only the logs hide it.
        await dns.AssertLoggedAsync("secret-backend.test");
    }

    private static async Task<TptRun> StartRouterAsync(DnsmasqFixture dns, string upstream, IDictionary<string, string?>? environment = null) =>
        await TptRun.StartAsync($"""
            version: 2
            resolver:
              nameservers: ["{dns.EndPoint}"]
              min_ttl: 1s
              max_ttl: 1m
              timeout: 500ms
            servers:
              plain:
                listen: ["127.0.0.1:0"]
                default: backend
                via:
                  connect_timeout: 2s
              health:
                listen: ["127.0.0.1:0"]
                default: health
            upstream:
              backend: "{upstream}"
            """, listeners: 2, environment).WaitAsync(TestTimeout);

    private static async Task<string> BannerAsync(IPEndPoint router)
    {
        using var client = await RawClient.ConnectAsync(router);
        return await client.ReadBannerAsync();
    }

    /// <summary>A TTL running out has no signal to wait on (<see cref="Eventually"/>); returns the time taken, the caller asserts on the final state.</summary>
    private static async Task<TimeSpan> PollUntilAsync(Func<Task<bool>> done)
    {
        var clock = Stopwatch.StartNew();
        await Eventually.HoldsAsync(() => done().WaitAsync(TestTimeout), TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));
        return clock.Elapsed;
    }

    /// <summary>
    /// Backend A on 127.0.0.2 with an OS-chosen port P, then B on 127.0.0.3:P. P may be taken on
    /// 127.0.0.3 by someone else, so a clash retries with a new P.
    /// </summary>
    private static async Task<BackendPair> SharedPortBackendsAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            var a = new TestBackend("A", address: AddressA);
            try
            {
                return new BackendPair(a, new TestBackend("B", address: AddressB, port: a.Port));
            }
            catch (SocketException) when (attempt < 5)
            {
                await a.DisposeAsync();
            }
        }
    }

    private sealed record BackendPair(TestBackend A, TestBackend B) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
        }
    }
}
