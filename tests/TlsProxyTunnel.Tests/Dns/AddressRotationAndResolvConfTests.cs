using System.Net;
using TlsProxyTunnel.Dns;

namespace TlsProxyTunnel.Tests.Dns;

public sealed class AddressRotationAndResolvConfTests
{
    private static readonly IPAddress[] Three = [IPAddress.Parse("192.0.2.1"), IPAddress.Parse("192.0.2.2"), IPAddress.Parse("192.0.2.3")];

    [Fact]
    public void Rotation_starts_at_the_next_address_each_time_and_wraps()
    {
        var rotation = new AddressRotation();

        Assert.Equal(Three, rotation.Order("a", Three));
        Assert.Equal([Three[1], Three[2], Three[0]], rotation.Order("a", Three));
        Assert.Equal([Three[2], Three[0], Three[1]], rotation.Order("A", Three));
        Assert.Equal(Three, rotation.Order("a", Three));
        Assert.Equal(Three, rotation.Order("other", Three)); // per name
    }

    [Fact]
    public void Rotation_of_a_single_address_is_that_address()
    {
        var rotation = new AddressRotation();

        Assert.Equal(0, rotation.NextStart("a", 1));
        Assert.Equal([Three[0]], rotation.Order("a", [Three[0]]));
    }

    [Fact]
    public void Resolv_conf_search_ndots_and_nameservers_are_parsed()
    {
        var conf = ResolvConf.Parse(["# comment", "nameserver 10.0.0.10", "nameserver fd00::53", "domain old.example", "search ns.svc.cluster.local svc.cluster.local. cluster.local", "options ndots:5 timeout:1"]);

        Assert.Equal([new IPEndPoint(IPAddress.Parse("10.0.0.10"), 53), new IPEndPoint(IPAddress.Parse("fd00::53"), 53)], conf.Nameservers);
        Assert.Equal(["ns.svc.cluster.local", "svc.cluster.local", "cluster.local"], conf.Search);
        Assert.Equal(5, conf.Ndots);
        Assert.Equal(["squid.proxy.ns.svc.cluster.local", "squid.proxy.svc.cluster.local", "squid.proxy.cluster.local", "squid.proxy"], conf.Candidates("squid.proxy", absolute: false));
        Assert.Equal(["squid.proxy"], conf.Candidates("squid.proxy", absolute: true));
    }

    [Fact]
    public void Names_with_at_least_ndots_dots_are_tried_as_written_first()
    {
        var conf = ResolvConf.Parse(["search corp.example"]);

        Assert.Equal(1, conf.Ndots);
        Assert.Equal(["proxy.example.com", "proxy.example.com.corp.example"], conf.Candidates("proxy.example.com", absolute: false));
        Assert.Equal(["proxy.corp.example", "proxy"], conf.Candidates("proxy", absolute: false));
    }

    [Fact]
    public void Hosts_file_maps_every_alias_case_insensitively_and_skips_junk()
    {
        var hosts = HostsFile.Parse(["127.0.0.1 localhost", "10.0.0.5 Db db.local # comment", "not-an-ip name", "10.0.0.6 db", "", "# 10.0.0.7 commented"]);

        Assert.True(hosts.TryGet("db", out var db));
        Assert.Equal([IPAddress.Parse("10.0.0.5"), IPAddress.Parse("10.0.0.6")], db);
        Assert.True(hosts.TryGet("db.local", out _));
        Assert.False(hosts.TryGet("name", out _));
    }
}
