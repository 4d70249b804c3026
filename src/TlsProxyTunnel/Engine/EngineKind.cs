namespace TlsProxyTunnel.Engine;

/// <summary>The socket layer a server's connections run on, as decided when the snapshot is built.</summary>
internal enum EngineKind
{
    /// <summary>System.Net.Sockets: portable, and what every feature runs on.</summary>
    Sockets,

    /// <summary>tpt's own epoll loops over non-blocking sockets (Linux only); features it does not carry hand the connection to the sockets engine.</summary>
    Linux,
}
