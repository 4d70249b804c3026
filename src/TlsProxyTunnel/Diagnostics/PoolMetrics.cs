using System.Collections.Concurrent;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>
/// One upstream's pool, by upstream name (bounded by the config). Outlives the pools themselves: a reload that
/// replaces a pool keeps counting on the same series, and the gauges are sums of what live pools added.
/// </summary>
internal sealed class PoolMetrics(string upstream)
{
    private long _size;
    private long _idle;
    private long _waiters;
    private long _hits;
    private long _misses;
    private long _waits;
    private long _waitTimeouts;
    private long _handshakeFailures;

    public string Upstream { get; } = upstream;

    public long Size => Interlocked.Read(ref _size);

    public long Idle => Interlocked.Read(ref _idle);

    public long Waiters => Interlocked.Read(ref _waiters);

    public long Hits => Interlocked.Read(ref _hits);

    public long Misses => Interlocked.Read(ref _misses);

    public long Waits => Interlocked.Read(ref _waits);

    public long WaitTimeouts => Interlocked.Read(ref _waitTimeouts);

    public long HandshakeFailures => Interlocked.Read(ref _handshakeFailures);

    public void AddSize(int delta) => Interlocked.Add(ref _size, delta);

    public void AddIdle(int delta) => Interlocked.Add(ref _idle, delta);

    public void AddWaiters(int delta) => Interlocked.Add(ref _waiters, delta);

    public void OnHit() => Interlocked.Increment(ref _hits);

    public void OnMiss() => Interlocked.Increment(ref _misses);

    public void OnWait() => Interlocked.Increment(ref _waits);

    public void OnWaitTimeout() => Interlocked.Increment(ref _waitTimeouts);

    public void OnHandshakeFailure() => Interlocked.Increment(ref _handshakeFailures);
}

/// <summary>The <c>tpt_pool_*</c> families, one series per pooled upstream.</summary>
internal sealed class PoolMetricSet
{
    private readonly ConcurrentDictionary<string, PoolMetrics> _pools = new(StringComparer.Ordinal);

    /// <summary>Created when the pool is built, so its series are there, at 0, before any use.</summary>
    public PoolMetrics For(string upstream) => _pools.GetOrAdd(upstream, static n => new PoolMetrics(n));

    public IReadOnlyList<PoolMetrics> All => [.. _pools.Values.OrderBy(p => p.Upstream, StringComparer.Ordinal)];

    public void Declare(MetricRegistry registry)
    {
        Family(registry.Gauge, "tpt_pool_size", "Connections the upstream's pool keeps ready (its size setting)", p => p.Size);
        Family(registry.Gauge, "tpt_pool_idle", "Pooled connections ready now (TCP, CONNECT and TLS done, not yet taken)", p => p.Idle);
        Family(registry.Gauge, "tpt_pool_waiters", "Clients waiting now for a pooled connection", p => p.Waiters);
        Family(registry.Counter, "tpt_pool_hits_total", "Clients given an idle pooled connection at once", p => p.Hits);
        Family(registry.Counter, "tpt_pool_misses_total", "Clients that found no idle pooled connection (they waited, or were closed when max_waiters were waiting)", p => p.Misses);
        Family(registry.Counter, "tpt_pool_waits_total", "Clients that waited for a pooled connection", p => p.Waits);
        Family(registry.Counter, "tpt_pool_wait_timeouts_total", "Clients closed after waiting wait_timeout for a pooled connection", p => p.WaitTimeouts);
        Family(registry.Counter, "tpt_pool_handshake_failures_total", "Pooled connection attempts that failed (resolve, connect, CONNECT or TLS)", p => p.HandshakeFailures);
    }

    private void Family(Action<string, string, Action<SampleSink>> declare, string name, string help, Func<PoolMetrics, long> value) =>
        declare(name, help, sink =>
        {
            foreach (var pool in All)
            {
                sink.Add(value(pool), ("upstream", pool.Upstream));
            }
        });
}
