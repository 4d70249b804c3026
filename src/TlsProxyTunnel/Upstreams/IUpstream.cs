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

    /// <summary>
    /// Serves from the client's data alone, with no wait of its own (no connect): for as long as a client keeps
    /// sending, its reads and writes can all complete synchronously. The handler starts on the accept loop's
    /// thread, so it leaves that thread before such an upstream serves, or one client could hold up accepting.
    /// </summary>
    bool ServesInline { get; }

    /// <summary>
    /// Serves a client the Linux engine drives without handing it to System.Net.Sockets (a plain TCP upstream);
    /// for any other upstream the handler hands the client over first.
    /// </summary>
    bool RunsOnEngine => false;

    ValueTask<ConnectionOutcome> ServeAsync(ClientConnection connection, Route route);
}
