using System.Net.Sockets;

namespace TlsProxyTunnel.Listeners;

/// <summary>Where an accept loop takes connections from: a bound listening socket (<see cref="BoundListener"/>).</summary>
internal interface IAcceptSource
{
    /// <summary>The listen address as configured (or as bound, for port 0), for log lines.</summary>
    string Text { get; }

    /// <summary>Closed on purpose (reload, stop): a failed accept then ends the loop instead of backing off.</summary>
    bool IsClosed { get; }

    ValueTask<Socket> AcceptAsync();
}
