namespace TlsProxyTunnel.Listeners;

/// <summary>
/// One place under a server's <c>maxclients</c>, taken at admission (<see cref="Admission"/>) and moved into the
/// <see cref="Connections.ClientConnection"/> it admits, which gives it back exactly once when it closes. A struct, so
/// admitting costs no allocation; its one owner is the connection, which guards the give-back.
/// </summary>
internal readonly struct ConnectionSlot
{
    private readonly ConnectionLimiter? _limiter;

    private ConnectionSlot(ConnectionLimiter limiter) => _limiter = limiter;

    /// <summary>No place taken (a connection not held to a limit, e.g. in a test harness).</summary>
    public static ConnectionSlot None => default;

    public bool IsTaken => _limiter is not null;

    /// <summary>Takes a place when fewer than <paramref name="maxClients"/> are taken; rejects instead of queueing.</summary>
    public static bool TryTake(ConnectionLimiter limiter, int maxClients, out ConnectionSlot slot)
    {
        slot = limiter.TryAcquire(maxClients) ? new ConnectionSlot(limiter) : default;
        return slot.IsTaken;
    }

    /// <summary>Gives the place back. The owner calls it once (a copy released again would free a place twice).</summary>
    public void Release() => _limiter?.Release();
}
