namespace TlsProxyTunnel.Listeners;

/// <summary>
/// Counts one server's connections across all its listen addresses and all configuration generations;
/// the limit comes from the generation admitting the connection, so a reload changes it for new ones only.
/// </summary>
internal sealed class ConnectionLimiter
{
    private int _active;

    public int Active => Volatile.Read(ref _active);

    /// <summary>Rejects instead of queueing.</summary>
    public bool TryAcquire(int maxClients)
    {
        if (Interlocked.Increment(ref _active) <= maxClients)
        {
            return true;
        }

        Interlocked.Decrement(ref _active);
        return false;
    }

    public void Release() => Interlocked.Decrement(ref _active);
}
