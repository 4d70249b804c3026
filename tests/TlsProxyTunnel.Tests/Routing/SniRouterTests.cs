using TlsProxyTunnel.Routing;

namespace TlsProxyTunnel.Tests.Routing;

public sealed class SniRouterTests
{
    private static SniRouter<string> Router(params string[] patterns) =>
        new(patterns.Select(p => KeyValuePair.Create(p, "route:" + p)));

    private static string? Match(SniRouter<string> router, string name) => router.Match(name);

    [Fact]
    public void Exact_match()
    {
        var router = Router("a.test", "b.test");
        Assert.Equal("route:a.test", Match(router, "a.test"));
        Assert.Equal("route:b.test", Match(router, "b.test"));
        Assert.Null(Match(router, "c.test"));
        Assert.Equal(2, router.Count);
    }

    [Fact]
    public void Match_is_ordinal_case_is_the_normalizers_job() => Assert.Null(Match(Router("a.test"), "A.test"));

    [Fact]
    public void Wildcard_matches_any_depth()
    {
        var router = Router("*.example.com");
        Assert.Equal("route:*.example.com", Match(router, "www.example.com"));
        Assert.Equal("route:*.example.com", Match(router, "a.b.c.example.com"));
    }

    [Fact]
    public void Wildcard_does_not_match_apex() => Assert.Null(Match(Router("*.example.com"), "example.com"));

    [Fact]
    public void Wildcard_is_anchored_at_a_label_boundary()
    {
        var router = Router("*.example.com");
        Assert.Null(Match(router, "badexample.com"));
        Assert.Null(Match(router, "www.example.com.evil"));
        Assert.Null(Match(router, ".example.com"));
    }

    [Fact]
    public void Longest_wildcard_suffix_wins()
    {
        var router = Router("*.com", "*.example.com", "*.deep.example.com");
        Assert.Equal("route:*.deep.example.com", Match(router, "x.deep.example.com"));
        Assert.Equal("route:*.example.com", Match(router, "x.example.com"));
        Assert.Equal("route:*.example.com", Match(router, "deep.example.com"));
        Assert.Equal("route:*.com", Match(router, "other.com"));
    }

    [Fact]
    public void Exact_beats_wildcard()
    {
        var router = Router("*.example.com", "www.example.com");
        Assert.Equal("route:www.example.com", Match(router, "www.example.com"));
        Assert.Equal("route:*.example.com", Match(router, "api.example.com"));
    }

    [Fact]
    public void Case46_rule_matches_only_anchored_not_by_substring()
    {
        var exactOnly = Router("my.example.com");
        Assert.Null(Match(exactOnly, "test.my.example.com"));

        var withWildcard = Router("my.example.com", "*.my.example.com");
        Assert.Equal("route:*.my.example.com", Match(withWildcard, "test.my.example.com"));
        Assert.Equal("route:my.example.com", Match(withWildcard, "my.example.com"));

        Assert.Null(Match(Router("a.bench.test"), "a.bench.test.evil"));
        Assert.Null(Match(Router("a.bench.test"), "xa.bench.test"));
    }

    [Fact]
    public void Case45_SNI_that_looks_like_a_pattern_is_not_treated_as_one()
    {
        // HostName rejects '*' so such an SNI never reaches the router, and the router itself
        // only ever reads its input as a name: it cannot fan out to other routes.
        Assert.False(HostName.TryNormalize("*.example.com"u8, stackalloc char[HostName.MaxLength], out _));
        Assert.False(HostName.TryNormalize("*"u8, stackalloc char[HostName.MaxLength], out _));
        Assert.Null(Match(Router("a.example.com", "b.example.com"), "*.example.com"));
        Assert.Null(Match(Router("a.example.com"), "*"));
    }

    [Fact]
    public void Empty_router_matches_nothing()
    {
        var router = Router();
        Assert.Equal(0, router.Count);
        Assert.Null(Match(router, "a.test"));
    }

    [Theory]
    [InlineData("Upper.test")]
    [InlineData("trailing.dot.")]
    [InlineData("a.*.test")]
    [InlineData("*")]
    public void Rejects_unnormalized_patterns(string pattern) =>
        Assert.Throws<ArgumentException>(() => Router(pattern));

    [Fact]
    public void Rejects_duplicate_patterns()
    {
        Assert.Throws<ArgumentException>(() => Router("a.test", "a.test"));
        Assert.Throws<ArgumentException>(() => Router("*.a.test", "*.a.test"));
    }

    [Fact]
    public void Ten_thousand_routes_match_and_do_not_allocate()
    {
        var patterns = new List<string>();
        for (var i = 0; i < 5000; i++)
        {
            patterns.Add($"host{i}.bench.test");
            patterns.Add($"*.zone{i}.bench.test");
        }

        var router = Router([.. patterns]);
        Assert.Equal(10000, router.Count);
        Assert.Equal("route:host4999.bench.test", Match(router, "host4999.bench.test"));
        Assert.Equal("route:*.zone1234.bench.test", Match(router, "a.b.zone1234.bench.test"));
        Assert.Null(Match(router, "zone1234.bench.test"));

        var exact = "host42.bench.test".AsSpan();
        var wildcard = "deep.www.zone42.bench.test".AsSpan();
        var miss = "nothing.here.example".AsSpan();
        router.Match(exact);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            router.Match(exact);
            router.Match(wildcard);
            router.Match(miss);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
