namespace TlsProxyTunnel.Listeners;

/// <summary>maxclients for one server, across all its listen addresses. Rejects instead of queueing.</summary>
internal sealed class ConnectionLimiter(int maxClients)
{
    private int _active;
    private volatile int _maxClients = maxClients;

    public int MaxClients
    {
        get => _maxClients;
        set => _maxClients = value;
    }

    public int Active => Volatile.Read(ref _active);

    public bool TryAcquire()
    {
        if (Interlocked.Increment(ref _active) <= _maxClients)
        {
            return true;
        }

        Interlocked.Decrement(ref _active);
        return false;
    }

    public void Release() => Interlocked.Decrement(ref _active);
}
