using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.ReverseRelay;

/// <summary>
/// What a reload cannot apply to the relay kinds, said at the reload rather than discovered later: a relay's ports
/// and settings are bound at start, and publishers are started at start (a running one re-reads its settings at
/// each reconnect).
/// </summary>
internal static class RelayReloadCheck
{
    public static void Warn(ILogger logger, ProxyConfig before, ProxyConfig after)
    {
        var old = before.Servers.ToDictionary(s => s.Name, StringComparer.Ordinal);
        foreach (var server in after.Servers)
        {
            old.TryGetValue(server.Name, out var was);
            if (server.Relay is { } relay && relay != was?.Relay)
            {
                RelayLog.NeedsRestart(logger, server.Name, was?.Relay is null ? "the relay (kind tls_relay)" : "the 'listen' and 'relay' settings");
            }
            else if (server.Publisher is not null && was?.Publisher is null)
            {
                RelayLog.NeedsRestart(logger, server.Name, "publishing (kind relay_publisher)");
            }
        }
    }
}
