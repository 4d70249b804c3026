using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Engine.Linux;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Connections;

/// <summary>
/// Admits a connection that did not come from a listener's accept (a relay's control port, a publisher's reverse
/// dial) into the same path as an accepted one: the server's limiter, then <see cref="ConnectionHandler"/> with
/// the server's client stages, route, access log and metrics, read from the generation in use now.
/// </summary>
/// <remarks>Admission is the listeners' own (<see cref="Listeners.Admission"/>): the same maxclients slot and the same descriptor headroom.</remarks>
internal sealed class ConnectionIntake(ConnectionTracker tracker, ConnectionHandler handler, ProxyMetrics metrics, Listeners.ListenerService listeners)
{
    /// <summary>Takes <paramref name="socket"/> over: runs it as a connection of <paramref name="serverName"/>, or closes it.</summary>
    /// <param name="source">Where it came from, as the access log's <c>listen</c> and the listener metrics show it.</param>
    /// <returns>False when it was closed instead: the server is gone from the configuration, or at <c>maxclients</c>.</returns>
    /// <param name="engine">The socket as the Linux engine drives it, when the engine connected it; it stays there
    /// (a server that no longer admits to the engine closes it).</param>
    /// <param name="peer">With <paramref name="engine"/>: the address it connected to.</param>
    public bool TryAdmit(string serverName, Socket socket, ListenAddress source, EngineSocket? engine = null, EndPoint? peer = null)
    {
        // A reload between the dial and now may have moved the server off the engine. System.Net.Sockets never saw
        // an engine-dialled socket's connect and would take it for unconnected (a TLS stage over it fails): closed,
        // and the relay's public client with it, as for any reverse connection that cannot be served.
        if (!listeners.Current.Servers.TryGetValue(serverName, out var server) || (engine is not null && !server.AdmitsToEngine))
        {
            Close(socket, engine);
            return false;
        }

        // A refused socket the engine holds is left to us: the hold must end before the close.
        if (!listeners.Admission.TryAdmit(server, socket, out var slot, closeRefused: engine is null))
        {
            engine?.Close();
            return false;
        }

        var connection = new ClientConnection(socket, server, source, tracker.NextId(), slot);
        if (engine is not null)
        {
            connection.AdoptConnected(engine, peer!);
        }

        _ = handler.RunAsync(connection, metrics.Listener(server.Name, source.Text, server.ConnectionLimit));
        return true;
    }

    private static void Close(Socket socket, EngineSocket? engine)
    {
        if (engine is not null)
        {
            engine.Close();
        }
        else
        {
            socket.Dispose();
        }
    }
}
