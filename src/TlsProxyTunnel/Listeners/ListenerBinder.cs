using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Listeners;

/// <summary>
/// Binds a generation's listen addresses, all or none: a failure closes what this call bound, so a start never
/// runs half-bound and a reload that cannot bind changes nothing.
/// </summary>
internal static class ListenerBinder
{
    /// <summary>
    /// Binds every address of <paramref name="snapshot"/> that <paramref name="isBound"/> does not already hold.
    /// </summary>
    /// <returns>False with why (address, reason, server) when one cannot be bound; nothing is left bound then.</returns>
    public static bool TryBindAll(RuntimeSnapshot snapshot, Func<string, bool> isBound, ProxyMetrics metrics, out List<BoundListener> added, out string error)
    {
        added = [];
        error = "";
        // UDP servers are bound by Datagrams.UdpListenerService.
        foreach (var server in snapshot.Config.Servers.Where(s => !s.IsUdp))
        {
            foreach (var listen in server.Listen)
            {
                var key = KeyOf(server.Name, listen);
                if (isBound(key))
                {
                    continue;
                }

                try
                {
                    var socket = Bind(listen.EndPoint);
                    var bound = (IPEndPoint)socket.LocalEndPoint!;
                    var shown = listen.EndPoint.Port == 0 ? new ListenAddress(bound, bound.ToString()) : listen;
                    var limit = snapshot.Servers[server.Name].ConnectionLimit;
                    added.Add(new BoundListener(key, server.Name, shown, socket, metrics.Listener(server.Name, shown.Text, limit)));
                }
                catch (SocketException e)
                {
                    foreach (var listener in added)
                    {
                        listener.Close();
                        metrics.RemoveListener(listener.Server, listener.Listen.Text);
                    }

                    added.Clear();
                    error = $"cannot listen on {listen.Text}: {Describe(e)} (server {server.Name})";
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>
    /// A listener's identity across reloads: the configured address text, so a reload keeps a listener whose
    /// address stays (even if it moves to another server). Port 0 means "any port" and several servers may ask for
    /// it; those belong to their server, and keep the port they got.
    /// </summary>
    public static string KeyOf(string server, ListenAddress listen) => listen.EndPoint.Port == 0 ? $"{server}/{listen.Text}" : listen.Text;

    public static Socket Bind(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                // v6-only, so 0.0.0.0:P and [::]:P can both be configured, each serving its own family.
                socket.DualMode = false;
            }

            // Accepted sockets inherit TCP_NODELAY from the listener on Linux: one setsockopt per listener, not per connection.
            socket.NoDelay = true;

            // No ReuseAddress: on Linux .NET maps it to SO_REUSEPORT too, which would let another process share the port.
            socket.Bind(endPoint);
            socket.Listen(4096);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static string Describe(SocketException e) => e.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "address in use",
        SocketError.AccessDenied => "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)",
        SocketError.AddressNotAvailable => "address not available (not an address of this host)",
        _ => e.Message,
    };
}
