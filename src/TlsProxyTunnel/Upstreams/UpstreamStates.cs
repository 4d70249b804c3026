using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Upstreams;

/// <summary>
/// Per-upstream state that outlives a configuration generation, keyed by what the upstream's settings say (not
/// by the snapshot that happened to build it): a reload that leaves an upstream as it was keeps its state; one
/// that changes it (another address, a rotated certificate) starts afresh. Today that state is the TLS client
/// (certificate context and chain policy built once); the connection pool of the next issue lives here too.
/// </summary>
/// <remarks>Used by the snapshot builder only (start-up and reloads, one at a time), so not thread-safe.</remarks>
internal sealed class UpstreamStates
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
            _states.Remove(key);
        }
    }
}

internal sealed class UpstreamState(UpstreamConfig upstream)
{
    /// <summary>Null when the upstream does not originate TLS.</summary>
    public UpstreamTlsClient? Tls { get; } = upstream.Tls is null ? null : new UpstreamTlsClient(upstream);
}

/// <summary>
/// An upstream's settings by value. Certificates count by thumbprint (their objects differ on every load, their
/// content only when rotated); the name is left out, so a renamed upstream keeps its state.
/// </summary>
internal readonly record struct UpstreamKey(string Host, int Port, AddressFamilyFilter Family, TimeSpan? ConnectTimeout, string Tls)
{
    public static UpstreamKey Of(UpstreamConfig upstream) =>
        new(upstream.Host, upstream.Port, upstream.Family, upstream.ConnectTimeout, upstream.Tls is { } tls ? Describe(tls) : "");

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
