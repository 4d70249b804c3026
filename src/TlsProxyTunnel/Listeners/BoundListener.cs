using System.Net.Sockets;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Listeners;

/// <summary>
/// One bound listening socket. Its server and metrics are read by the accept loop on every connection and
/// replaced by a reload that keeps the address (it may move to another server), hence volatile.
/// </summary>
internal sealed class BoundListener(string key, string server, ListenAddress listen, Socket socket, ListenerMetrics metrics) : IAcceptSource
{
    private volatile bool _closed;

    /// <summary>Identity across reloads (<see cref="ListenerBinder.KeyOf"/>).</summary>
    public string Key { get; } = key;

    public ListenAddress Listen { get; } = listen;

    public Socket Socket { get; } = socket;

    public volatile string Server = server;

    public volatile ListenerMetrics Metrics = metrics;

    public string Text => Listen.Text;

    public bool IsClosed => _closed;

    // The token overload returns a ValueTask over the socket's cached event args; the parameterless one
    // allocates a Task per accepted connection.
    public ValueTask<Socket> AcceptAsync() => Socket.AcceptAsync(CancellationToken.None);

    public void Close()
    {
        _closed = true;
        Socket.Dispose();
    }
}
