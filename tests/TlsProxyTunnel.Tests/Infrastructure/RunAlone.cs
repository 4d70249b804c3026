namespace TlsProxyTunnel.Tests.Infrastructure;

/// <summary>
/// Tests whose pass depends on the thread pool answering within a second or so (an idle timeout that must not cut a
/// connection talking every 100 ms): run after the parallel ones, one at a time. Beside a thousand other tests on two
/// cores, the pool was starved long enough that the talking connection itself went idle for tpt (seen in CI).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunAlone
{
    public const string Name = "in-process timing, run alone";
}
