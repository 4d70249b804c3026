using BenchmarkDotNet.Attributes;
using TlsProxyTunnel.Routing;

namespace TlsProxyTunnel.Benchmarks;

[MemoryDiagnoser]
[ShortRunJob]
public class SniRouterBenchmarks
{
    private SniRouter<string> _router = null!;
    private string _exact = "";
    private string _wildcard = "";
    private string _miss = "";

    [Params(1, 100, 10_000)]
    public int Routes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // Half exact names, half wildcards, like a mixed config; with 1 route it is a single exact name.
        var routes = new List<KeyValuePair<string, string>>();
        for (var i = 0; i < Routes; i++)
        {
            var pattern = i % 2 == 0 ? $"host{i}.bench.example.com" : $"*.zone{i}.bench.example.com";
            routes.Add(KeyValuePair.Create(pattern, pattern));
        }

        _router = new SniRouter<string>(routes);
        var last = Routes - 1;
        _exact = $"host{last - (last % 2)}.bench.example.com";
        _wildcard = Routes > 1 ? $"www.api.zone{last - ((last + 1) % 2)}.bench.example.com" : "www.api.zone1.bench.example.com";
        _miss = "www.not-configured.example.org";
    }

    [Benchmark]
    public string? ExactHit() => _router.Match(_exact);

    [Benchmark]
    public string? WildcardHit() => _router.Match(_wildcard);

    [Benchmark]
    public string? Miss() => _router.Match(_miss);
}
