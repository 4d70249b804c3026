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

/// <summary>The process's descriptor headroom as admission and the accept loop see it (<see cref="DescriptorGuard"/>).</summary>
internal interface IDescriptorBudget
{
    /// <summary>The soft RLIMIT_NOFILE last read.</summary>
    long Limit { get; }

    /// <summary>True when one more connection (client and upstream socket) still leaves the reserve free.</summary>
    bool HasRoom(int liveConnections);

    /// <summary>True when all the spares are held (again); false means descriptors are still short.</summary>
    bool TryTakeSpares();

    /// <summary>Gives the spare descriptors back to the process at once (accept ran out of descriptors).</summary>
    void ReleaseSpares();
}
