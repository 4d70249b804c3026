using Microsoft.Extensions.Logging.Abstractions;
using Moq;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Tests.Configuration;
using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.Tests.Runtime;

/// <summary>What a generation shares with the one before it: a server's connection limiter, while the server exists.</summary>
public sealed class RuntimeSnapshotBuilderTests
{
    private static string Servers(params string[] names) =>
        "version: 2\nservers:\n" + string.Concat(names.Select((n, i) => $"  {n}:\n    listen: [\"127.0.0.1:{9000 + i}\"]\n    default: echo\n"));

    private static RuntimeSnapshotBuilder NewBuilder() =>
        new(new ProxyMetrics(), new ReadinessState(), Mock.Of<IHostResolver>(), NullLoggerFactory.Instance);

    [Fact]
    public void A_server_kept_across_a_reload_keeps_its_limiter_so_its_running_connections_still_count()
    {
        var builder = NewBuilder();
        var first = builder.Build(ConfigTestHelpers.LoadOk(Servers("a", "b")), null);
        Assert.True(first.Servers["a"].Limiter.TryAcquire(1));

        var second = builder.Build(ConfigTestHelpers.LoadOk(Servers("a", "b")), first);

        Assert.Equal(2, second.Generation);
        Assert.Same(first.Servers["a"].Limiter, second.Servers["a"].Limiter);
        Assert.False(second.Servers["a"].Limiter.TryAcquire(1));
        Assert.NotSame(second.Servers["a"].Limiter, second.Servers["b"].Limiter);
    }

    [Fact]
    public void A_removed_server_leaves_nothing_behind_and_comes_back_with_a_new_limiter()
    {
        var builder = NewBuilder();
        var withA = builder.Build(ConfigTestHelpers.LoadOk(Servers("a", "b")), null);
        Assert.True(withA.Servers["a"].Limiter.TryAcquire(100));

        var withoutA = builder.Build(ConfigTestHelpers.LoadOk(Servers("b")), withA);
        var again = builder.Build(ConfigTestHelpers.LoadOk(Servers("a", "b")), withoutA);

        Assert.NotSame(withA.Servers["a"].Limiter, again.Servers["a"].Limiter);
        Assert.Equal(0, again.Servers["a"].Limiter.Active);
        Assert.Same(withA.Servers["b"].Limiter, again.Servers["b"].Limiter);
    }

    [Fact]
    public void The_builder_does_not_keep_a_removed_servers_limiter_alive()
    {
        var builder = NewBuilder();
        var (limiter, current) = BuildAndRemove(builder);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.False(limiter.IsAlive, "the limiter of a server removed two generations ago is still referenced");
        GC.KeepAlive(current);
    }

    // Not inlined, so no local of this frame keeps the first generation reachable.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (WeakReference Limiter, RuntimeSnapshot Current) BuildAndRemove(RuntimeSnapshotBuilder builder)
    {
        var withA = builder.Build(ConfigTestHelpers.LoadOk(Servers("a", "b")), null);
        var withoutA = builder.Build(ConfigTestHelpers.LoadOk(Servers("b")), withA);
        return (new WeakReference(withA.Servers["a"].Limiter), withoutA);
    }
}
