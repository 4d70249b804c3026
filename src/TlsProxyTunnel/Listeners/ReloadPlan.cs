using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Listeners;

/// <summary>
/// What moving to a new configuration does to the listeners bound now: which stay (and the server each now
/// belongs to) and which close. Binding what it adds is <see cref="ListenerBinder"/>'s job.
/// </summary>
/// <param name="Kept">Key of each listener that stays → the server it serves from now on (it may have moved).</param>
/// <param name="Removed">Keys of the listeners the new configuration no longer has.</param>
internal sealed record ReloadPlan(IReadOnlyDictionary<string, string> Kept, IReadOnlyList<string> Removed)
{
    public static ReloadPlan Of(IEnumerable<string> boundKeys, ProxyConfig next)
    {
        var wanted = new Dictionary<string, string>(StringComparer.Ordinal);
        // UDP servers are bound by Datagrams.UdpListenerService.
        foreach (var server in next.Servers.Where(s => !s.IsUdp))
        {
            foreach (var listen in server.Listen)
            {
                wanted[ListenerBinder.KeyOf(server.Name, listen)] = server.Name;
            }
        }

        var kept = new Dictionary<string, string>(StringComparer.Ordinal);
        var removed = new List<string>();
        foreach (var key in boundKeys)
        {
            if (wanted.TryGetValue(key, out var server))
            {
                kept[key] = server;
            }
            else
            {
                removed.Add(key);
            }
        }

        return new ReloadPlan(kept, removed);
    }
}
