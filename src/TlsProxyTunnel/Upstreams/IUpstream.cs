using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Upstreams;

/// <summary>
/// What a route leads to. An upstream owns the client from here on: it replays the bytes already read
/// (<see cref="ClientConnection.InitialBytes"/>) and serves until done; the caller closes the sockets.
/// </summary>
internal interface IUpstream
{
    string Name { get; }

    ValueTask<ConnectionOutcome> ServeAsync(ClientConnection connection, Route route);
}
