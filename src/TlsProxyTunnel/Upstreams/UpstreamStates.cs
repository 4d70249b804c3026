using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Tls;
using TlsProxyTunnel.Upstreams.Pool;

namespace TlsProxyTunnel.Upstreams;

/// <summary>
/// Per-upstream state that outlives a configuration generation, keyed by what the upstream's settings say (not
/// by the snapshot that happened to build it): a reload that leaves an upstream as it was keeps its state; one
/// that changes it (another address, a rotated certificate) starts afresh. Today that state is the TLS client
/// (certificate context and chain policy built once) and its warm pools (<c>pool</c>): a reload that keeps the
/// upstream as it was keeps its pool and its idle connections, with no new handshakes.
/// </summary>
/// <remarks>Used by the snapshot builder only (start-up and reloads, one at a time), so not thread-safe.</remarks>
internal sealed class UpstreamStates : IDisposable
{
    private readonly Dictionary<UpstreamKey, UpstreamState> _states = [];

    public int Count => _states.Count;

    public UpstreamState For(UpstreamConfig upstream)
    {
        var key = UpstreamKey.Of(upstream);
        if (!_states.TryGetValue(key, out var state))
        {
            state = _states[key] = new UpstreamState(upstream);
        }

        return state;
    }

    /// <summary>Drops the state of upstreams the newest configuration no longer has (as it was).</summary>
    public void Retain(IEnumerable<UpstreamConfig> live)
    {
        var keep = live.Select(UpstreamKey.Of).ToHashSet();
        foreach (var key in _states.Keys.Where(k => !keep.Contains(k)).ToArray())
        {
            // Its pools are drained: idle connections closed, slots stopped; clients already relaying keep theirs.
            _states[key].ClosePools(all: true);
            _states.Remove(key);
        }

        foreach (var state in _states.Values)
        {
            state.ClosePools(all: false);
        }
    }

    /// <summary>Closes every pool (shutdown), waiting a bounded time for their slots to stop.</summary>
    public void Dispose()
    {
        var closing = _states.Values.SelectMany(s => s.ClosePools(all: true)).ToArray();
        _states.Clear();
        Task.WhenAll(closing).Wait(TimeSpan.FromSeconds(10));
    }
}

internal sealed class UpstreamState(UpstreamConfig upstream)
{
    // One pool per via in effect (direct, or a CONNECT proxy with a static target), keyed by the via's settings.
    private readonly Dictionary<string, ConnectionPool> _pools = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    /// <summary>Null when the upstream does not originate TLS.</summary>
    public UpstreamTlsClient? Tls { get; } = upstream.Tls is null ? null : new UpstreamTlsClient(upstream);

    public IReadOnlyCollection<ConnectionPool> Pools => _pools.Values;

    /// <summary>The pool for <paramref name="via"/>, started (warm-up) when first created; marks it used by the build in progress.</summary>
    public ConnectionPool Pool(ViaConfig via, Func<ConnectionPool> create)
    {
        var key = ViaKey(via);
        _used.Add(key);
        if (!_pools.TryGetValue(key, out var pool))
        {
            pool = _pools[key] = create();
            pool.Start();
        }

        return pool;
    }

    /// <summary>Closes the pools the latest build did not use (or all); returns their closing.</summary>
    public IReadOnlyList<Task> ClosePools(bool all)
    {
        var closing = new List<Task>();
        foreach (var key in _pools.Keys.Where(k => all || !_used.Contains(k)).ToArray())
        {
            closing.Add(_pools[key].DisposeAsync().AsTask());
            _pools.Remove(key);
        }

        _used.Clear();
        return closing;
    }

    private static string ViaKey(ViaConfig via) => via.IsDirect
        ? ""
        : string.Join('\n', via.Target, via.ConnectTimeout.Ticks, via.EffectiveHandshakeTimeout.Ticks, string.Join('\n', via.Headers.Select(h => $"{h.Name}:{h.Value}")));
}

/// <summary>
/// An upstream's settings by value. Certificates count by thumbprint (their objects differ on every load, their
/// content only when rotated); the name is left out, so a renamed upstream keeps its state.
/// </summary>
internal readonly record struct UpstreamKey(string Host, int Port, AddressFamilyFilter Family, TimeSpan? ConnectTimeout, string Tls, string Pool)
{
    public static UpstreamKey Of(UpstreamConfig upstream) =>
        new(upstream.Host, upstream.Port, upstream.Family, upstream.ConnectTimeout, upstream.Tls is { } tls ? Describe(tls) : "", upstream.Pool?.Describe() ?? "");

    private static string Describe(UpstreamTlsSettings tls) => string.Join(
        '\n',
        tls.ServerName ?? "",
        tls.ServerNameFromClient,
        tls.Verify,
        tls.CaOnly,
        string.Join(',', tls.ExtraRoots.Select(c => c.Thumbprint)),
        tls.ClientCertificate?.Thumbprint ?? "",
        string.Join(',', tls.Alpn.Select(a => a.ToString())));
}
