using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Connections;

/// <summary>
/// Admits a connection that did not come from a listener's accept (a relay's control port, a publisher's reverse
/// dial) into the same path as an accepted one: the server's limiter, then <see cref="ConnectionHandler"/> with
/// the server's client stages, route, access log and metrics, read from the generation in use now.
/// </summary>
internal sealed class ConnectionIntake(ConnectionTracker tracker, ConnectionHandler handler, ProxyMetrics metrics, Func<RuntimeSnapshot> snapshot, ILogger logger)
{
    private readonly RateLimitedLog _rejectLog = new(TimeSpan.FromSeconds(1));

    /// <summary>Takes <paramref name="socket"/> over: runs it as a connection of <paramref name="serverName"/>, or closes it.</summary>
    /// <param name="source">Where it came from, as the access log's <c>listen</c> and the listener metrics show it.</param>
    /// <returns>False when it was closed instead: the server is gone from the configuration, or at <c>maxclients</c>.</returns>
    public bool TryAdmit(string serverName, Socket socket, ListenAddress source)
    {
        if (!snapshot().Servers.TryGetValue(serverName, out var server))
        {
            socket.Dispose();
            return false;
        }

        if (!server.Limiter.TryAcquire(server.ConnectionLimit))
        {
            server.Metrics.OnRejected();
            if (_rejectLog.TryEnter(out var suppressed))
            {
                Log.Rejected(logger, server.Name, server.ConnectionLimit, socket.RemoteEndPoint?.ToString() ?? "-", suppressed);
            }

            socket.Dispose();
            return false;
        }

        var connection = new ClientConnection(socket, server, source, tracker.NextId());
        _ = handler.RunAsync(connection, metrics.Listener(server.Name, source.Text, server.ConnectionLimit));
        return true;
    }
}
