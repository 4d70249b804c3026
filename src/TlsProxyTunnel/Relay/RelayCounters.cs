namespace TlsProxyTunnel.Relay;

/// <summary>Bytes moved by one connection; each direction is written by one pump only, read by loggers at any time.</summary>
internal sealed class RelayCounters
{
    private long _fromClient;
    private long _toClient;
    private long _lastActivityTicks = Environment.TickCount64;

    public long FromClient => Volatile.Read(ref _fromClient);

    public long ToClient => Volatile.Read(ref _toClient);

    public long LastActivityTicks => Volatile.Read(ref _lastActivityTicks);

    public void AddFromClient(int bytes)
    {
        Volatile.Write(ref _fromClient, _fromClient + bytes);
        Volatile.Write(ref _lastActivityTicks, Environment.TickCount64);
    }

    public void AddToClient(int bytes)
    {
        Volatile.Write(ref _toClient, _toClient + bytes);
        Volatile.Write(ref _lastActivityTicks, Environment.TickCount64);
    }
}
