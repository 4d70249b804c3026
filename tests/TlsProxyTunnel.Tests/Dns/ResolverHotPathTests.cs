using System.Net;
using Microsoft.Extensions.Time.Testing;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Dns;

namespace TlsProxyTunnel.Tests.Dns;

/// <summary>
/// What a connection to an IP-literal or hosts-file upstream costs the resolver: one shared answer, no allocation.
/// The resolver has no name server (a resolv.conf without one), so nothing here can reach the network.
/// </summary>
public sealed class ResolverHotPathTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tpt-resolver-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private DnsHostResolver Create(string hosts, TimeProvider? time = null)
    {
        var hostsPath = Path.Combine(_directory, "hosts");
        var resolvPath = Path.Combine(_directory, "resolv.conf");
        File.WriteAllText(hostsPath, hosts);
        File.WriteAllText(resolvPath, "");
        return new DnsHostResolver(new ResolverSettings(), time ?? new FakeTimeProvider(DateTimeOffset.UnixEpoch), files: new SystemResolverFiles(hostsPath, resolvPath));
    }

#pragma warning disable CA2012 // The point is that it completed synchronously: asserted before .Result.
    private static ResolveResult Resolve(DnsHostResolver resolver, string host, AddressFamilyFilter family)
    {
        var pending = resolver.ResolveAsync(host, family, default);
        Assert.True(pending.IsCompletedSuccessfully, "answered without waiting");
        return pending.Result;
    }
#pragma warning restore CA2012

    private static long AllocatedBy(Action action, int times)
    {
        action(); // warm: the first call may build what later calls share
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < times; i++)
        {
            action();
        }

        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Theory]
    [InlineData("10.0.0.5", "Any")]
    [InlineData("10.0.0.5", "V4")]
    [InlineData("[2001:db8::1]", "V6")]
    public void An_ip_literal_upstream_gets_one_shared_answer_and_allocates_nothing_per_connection(string host, string familyName)
    {
        var family = Enum.Parse<AddressFamilyFilter>(familyName);
        using var resolver = Create("");
        var first = Resolve(resolver, host, family);
        Assert.True(first.Succeeded, first.Error);

        Assert.Same(first, Resolve(resolver, host, family));
        Assert.Equal(0, AllocatedBy(() => Resolve(resolver, host, family), 1000));
    }

    [Fact]
    public void A_literal_of_the_wrong_family_fails_the_same_way_each_time()
    {
        using var resolver = Create("");
        var failure = Resolve(resolver, "192.0.2.1", AddressFamilyFilter.V6);
        Assert.False(failure.Succeeded);
        Assert.Equal("'192.0.2.1' is an IPv4 address but the upstream allows IPv6 only", failure.Error);
        Assert.Same(failure, Resolve(resolver, "192.0.2.1", AddressFamilyFilter.V6));
    }

    [Fact]
    public void A_hosts_file_hit_gets_one_shared_answer_per_family_and_allocates_nothing_per_connection()
    {
        using var resolver = Create("10.1.2.3 db\n2001:db8::3 db\n");
        var any = Resolve(resolver, "db", AddressFamilyFilter.Any);
        Assert.Equal([IPAddress.Parse("10.1.2.3"), IPAddress.Parse("2001:db8::3")], any.Addresses);
        Assert.Equal([IPAddress.Parse("2001:db8::3")], Resolve(resolver, "db", AddressFamilyFilter.V6).Addresses);

        Assert.Same(any, Resolve(resolver, "db", AddressFamilyFilter.Any));
        Assert.Equal(0, AllocatedBy(() => Resolve(resolver, "db", AddressFamilyFilter.Any), 1000));
        Assert.Equal(0, AllocatedBy(() => Resolve(resolver, "localhost", AddressFamilyFilter.V4), 1000));
    }

    [Fact]
    public void A_changed_hosts_file_is_read_again_after_the_recheck_interval()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        using var resolver = Create("10.1.2.3 db\n", time);
        Assert.Equal([IPAddress.Parse("10.1.2.3")], Resolve(resolver, "db", AddressFamilyFilter.V4).Addresses);

        var hostsPath = Path.Combine(_directory, "hosts");
        File.WriteAllText(hostsPath, "10.9.9.9 db\n");
        File.SetLastWriteTimeUtc(hostsPath, DateTime.UtcNow.AddMinutes(1));

        // Within the interval the loaded file still answers; after it, the new one.
        Assert.Equal([IPAddress.Parse("10.1.2.3")], Resolve(resolver, "db", AddressFamilyFilter.V4).Addresses);
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal([IPAddress.Parse("10.9.9.9")], Resolve(resolver, "db", AddressFamilyFilter.V4).Addresses);
    }
}
