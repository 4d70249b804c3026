namespace TlsProxyTunnel.Listeners;

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
