using BenchmarkDotNet.Attributes;
using TlsProxyTunnel.Connections;

namespace TlsProxyTunnel.Benchmarks;

/// <summary>
/// One socket deadline as the data path uses it (started, never reached, ended): a new CancellationTokenSource with
/// its timer each time, against a source from the <see cref="Deadline"/> pool.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class DeadlineBenchmarks
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Benchmark(Baseline = true)]
    public bool NewSourcePerDeadline()
    {
        using var source = new CancellationTokenSource(Timeout);
        return source.Token.IsCancellationRequested;
    }

    [Benchmark]
    public bool PooledDeadline()
    {
        var deadline = Deadline.Start(Timeout);
        var expired = deadline.Token.IsCancellationRequested;
        deadline.End();
        return expired;
    }
}
