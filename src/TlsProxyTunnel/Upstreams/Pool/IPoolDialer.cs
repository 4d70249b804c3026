namespace TlsProxyTunnel.Upstreams.Pool;

/// <summary>A connection made for the pool, or why none was (safe to log).</summary>
internal readonly record struct PoolDial(PooledConnection? Connection, string? Error);

/// <summary>Makes one connection for a pool: everything a client's connection needs before its first byte.</summary>
internal interface IPoolDialer
{
    /// <summary>The upstream as safe to log.</summary>
    string Display { get; }

    ValueTask<PoolDial> DialAsync(CancellationToken stop);
}
