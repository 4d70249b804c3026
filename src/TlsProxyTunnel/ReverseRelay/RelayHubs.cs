using System.Collections.Concurrent;

namespace TlsProxyTunnel.ReverseRelay;

/// <summary>The bound relay hubs by server name: filled by <see cref="RelayService"/> at start, read per control session.</summary>
internal sealed class RelayHubs
{
    private readonly ConcurrentDictionary<string, RelayHub> _hubs = new(StringComparer.Ordinal);

    public void Add(RelayHub hub) => _hubs[hub.Server] = hub;

    public RelayHub? Get(string server) => _hubs.GetValueOrDefault(server);

    public IReadOnlyCollection<RelayHub> All => [.. _hubs.Values];
}
