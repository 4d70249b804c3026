using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Relay;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Connections;

/// <summary>One accepted client and everything the access log says about it.</summary>
internal sealed class ClientConnection(Socket client, RuntimeServer server, ListenAddress listen, long id) : IDisposable
{
    private EndPoint? _upstreamEndPoint;
    private string? _connectTarget;
    private Socket? _upstream;
    private IConnectionLeg? _upstreamLeg;
    private int _aborted;

    public long Id { get; } = id;

    /// <summary>The client's socket; once <c>terminate_tls</c> has run, its bytes are ciphertext: use <see cref="ClientLeg"/>.</summary>
    public Socket Client { get; } = client;

    /// <summary>The client leg the relay reads and writes: the socket, or the TLS stream over it after termination.</summary>
    public IConnectionLeg ClientLeg { get; private set; } = new SocketLeg(client);

    /// <summary>The upstream leg once the upstream pipeline has built it (socket, then perhaps TLS over it); null before.</summary>
    public IConnectionLeg? UpstreamLeg => _upstreamLeg;

    /// <summary>How reading the ClientHello ended (<see cref="HelloReadOutcome.NotRead"/> when the server does not read one).</summary>
    public HelloReadOutcome Hello { get; set; }

    /// <summary>The route taken; null until routed (or when the hello failed).</summary>
    public Route? Route { get; set; }

    /// <summary>The terminated session's parameters, for the access log; null when tpt did not terminate TLS.</summary>
    public TlsSessionInfo? ClientTls { get; set; }

    /// <summary>The TLS version spoken with the upstream, for the access log; null when tpt did not originate TLS.</summary>
    public string? UpstreamTlsVersion { get; set; }

    /// <summary>For the access log, when the upstream has a pool: <c>hit</c> (an idle connection), <c>wait</c> (waited for the next one made), <c>none</c>; null otherwise.</summary>
    public string? PoolUse { get; set; }

    public EndPoint? RemoteEndPoint { get; } = client.RemoteEndPoint;

    public RuntimeServer Server { get; } = server;

    public ListenAddress Listen { get; } = listen;

    public long StartTimestamp { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

    public RelayCounters Counters { get; } = new();

    private byte[]? _initialBuffer;

    /// <summary>Bytes read from the client while reading the ClientHello; replayed first.</summary>
    public ReadOnlyMemory<byte> InitialBytes { get; private set; }

    /// <summary>Takes ownership of the pooled buffer holding the bytes read so far.</summary>
    public void SetInitialBytes(byte[]? pooledBuffer, int length)
    {
        _initialBuffer = pooledBuffer;
        InitialBytes = pooledBuffer is null ? ReadOnlyMemory<byte>.Empty : pooledBuffer.AsMemory(0, length);
    }

    /// <summary>
    /// Returns the hello buffer to the pool once it has been replayed, so a long-lived idle connection
    /// does not keep 4 KiB or more for its whole life. Safe to call more than once.
    /// </summary>
    public void ReleaseInitialBytes()
    {
        InitialBytes = ReadOnlyMemory<byte>.Empty;
        if (Interlocked.Exchange(ref _initialBuffer, null) is { } buffer)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The bytes read so far were consumed here (by the server handshake) and must not be replayed. With
    /// <paramref name="release"/> false the buffer still backs unread bytes and stays until <see cref="ReleaseInitialBytes"/>.
    /// </summary>
    public void ConsumeInitialBytes(bool release)
    {
        if (release)
        {
            ReleaseInitialBytes();
        }
        else
        {
            InitialBytes = ReadOnlyMemory<byte>.Empty;
        }
    }

    public string? Sni { get; set; }

    /// <summary>
    /// The address actually connected to (upstream or proxy) and, through a proxy, the CONNECT target as shown;
    /// kept apart and formatted by <see cref="UpstreamAddress"/> only when a line is written, not per connection.
    /// </summary>
    public void SetUpstreamAddress(EndPoint connected, string? connectTarget)
    {
        _upstreamEndPoint = connected;
        _connectTarget = connectTarget;
    }

    /// <summary>For the access log: <c>IP:port</c>, or <c>IP:port CONNECT target</c> through a proxy; null before a connect.</summary>
    public string? UpstreamAddress =>
        _upstreamEndPoint is null ? null
        : _connectTarget is null ? _upstreamEndPoint.ToString()
        : $"{_upstreamEndPoint} CONNECT {_connectTarget}";

    public bool IsAborted => Volatile.Read(ref _aborted) != 0;

    /// <summary>Why <see cref="Abort"/> was called (idle timeout, write timeout, shutdown), reported instead of the relay's view.</summary>
    public ConnectionOutcome AbortReason { get; private set; } = ConnectionOutcome.Aborted;

    /// <summary>Registers the upstream socket so that <see cref="Abort"/> can cut it too.</summary>
    public void AttachUpstream(Socket upstream)
    {
        _upstream = upstream;
        _upstreamLeg = new SocketLeg(upstream);
        if (IsAborted)
        {
            Reset(upstream);
        }
    }

    /// <summary>The upstream leg now speaks TLS over the socket given to <see cref="AttachUpstream"/>.</summary>
    public void UpgradeUpstream(IConnectionLeg leg) => _upstreamLeg = leg;

    /// <summary>The client leg now speaks TLS over <see cref="Client"/>.</summary>
    public void UpgradeClient(IConnectionLeg leg) => ClientLeg = leg;

    /// <summary>Cuts both sockets with RST; pending operations complete at once. Safe to call from any thread, any number of times.</summary>
    public void Abort() => Abort(ConnectionOutcome.Aborted);

    /// <summary>
    /// Cuts both sockets with RST without claiming the end for an outside reason: the relay calls this once one
    /// side has failed, and that side's failure (client_error, upstream_error) stays the outcome.
    /// </summary>
    public void Cut()
    {
        Reset(Client);
        if (_upstream is { } upstream)
        {
            Reset(upstream);
        }
    }

    public void Abort(ConnectionOutcome reason)
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        AbortReason = reason;

        Reset(Client);
        if (_upstream is { } upstream)
        {
            Reset(upstream);
        }
    }

    public void Dispose() => Close();

    /// <summary>Closes both legs; safe to call more than once.</summary>
    public void Close()
    {
        // A TLS leg disposes its stream (its buffers go back to the pool) and then its socket.
        ClientLeg.Dispose();
        if (_upstreamLeg is { } leg)
        {
            leg.Dispose();
        }
        else
        {
            _upstream?.Dispose();
        }
    }

    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already closed: nothing left to reset.
        }

        socket.Dispose();
    }
}
