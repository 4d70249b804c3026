using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Engine.Linux;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Relay;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Connections;

/// <summary>One accepted client and everything the access log says about it.</summary>
/// <param name="slot">The place under the server's maxclients taken when it was admitted; this connection owns it
/// and gives it back when it closes.</param>
internal sealed class ClientConnection(Socket client, RuntimeServer server, ListenAddress listen, long id, ConnectionSlot slot) : IDisposable
{
    private readonly ConnectionSlot _slot = slot;
    private int _slotReleased;
    private EndPoint? _upstreamEndPoint;
    private string? _connectTarget;
    private Socket? _upstream;
    private IConnectionLeg? _upstreamLeg;
    private int _aborted;
    private EndPoint? _localEndPoint;

    public long Id { get; } = id;

    /// <summary>The client's socket; once <c>terminate_tls</c> has run, its bytes are ciphertext: use <see cref="ClientLeg"/>.</summary>
    public Socket Client { get; } = client;

    /// <summary>
    /// The client socket as the Linux engine drives it, from admission until the connection closes or is handed
    /// to System.Net.Sockets (<see cref="LeaveEngine"/>); null on the sockets engine.
    /// </summary>
    public EngineSocket? ClientEngine { get; private set; }

    /// <summary>The upstream socket as the Linux engine drives it (connected by the engine); null otherwise.</summary>
    public EngineSocket? UpstreamEngine { get; private set; }

    /// <summary>Puts the client socket on <paramref name="loop"/>; false (and nothing changed) when the kernel refuses.</summary>
    public bool EnterEngine(EpollLoop loop)
    {
        ClientEngine = EngineSocket.TryAttach(Client, loop);
        return ClientEngine is not null;
    }

    /// <summary>
    /// Takes a client socket the engine connected (a publisher's reverse dial) in, on the engine: System.Net.Sockets
    /// never saw that connect, so the endpoints come from here.
    /// </summary>
    public void AdoptConnected(EngineSocket engine, EndPoint peer)
    {
        RemoteEndPoint = PeerEndPoint = peer;
        _localEndPoint = LibC.LocalEndPoint(engine.Fd);
        ClientEngine = engine;
    }

    /// <summary>
    /// Hands the client socket back to System.Net.Sockets, for a stage or upstream the engine does not carry.
    /// Must not run while an engine operation is pending on it.
    /// </summary>
    public void LeaveEngine()
    {
        if (ClientEngine is { } engine)
        {
            ClientEngine = null;
            engine.Detach();
        }
    }

    /// <summary>The client leg the relay reads and writes: the socket, or the TLS stream over it after termination.</summary>
    /// <remarks>Made on first use: a connection the Linux engine relays never needs one.</remarks>
    public IConnectionLeg ClientLeg => _clientLeg ??= new SocketLeg(Client);

    private IConnectionLeg? _clientLeg;

    /// <summary>The client leg if one was made (for the access log, which must not make one).</summary>
    public IConnectionLeg? ExistingClientLeg => _clientLeg;

    /// <summary>The upstream leg once the upstream pipeline has built it (socket, then perhaps TLS over it); null before.</summary>
    public IConnectionLeg? UpstreamLeg => _upstreamLeg ??= _upstream is { } upstream ? new SocketLeg(upstream) : null;

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

    /// <summary>
    /// The client as logged and counted, and as any PROXY header sent upstream names it: the socket's peer, or the
    /// source a received PROXY header gave (<see cref="ApplyProxyHeader"/>).
    /// </summary>
    public EndPoint? RemoteEndPoint { get; private set; } = client.RemoteEndPoint;

    /// <summary>The socket's own peer (the proxy in front when a PROXY header named someone else).</summary>
    public EndPoint? PeerEndPoint { get; private set; } = client.RemoteEndPoint;

    /// <summary>The address this connection reached tpt on (for a connection tpt dialled, its own end).</summary>
    public EndPoint? LocalEndPoint => _localEndPoint ?? Client.LocalEndPoint;

    /// <summary>
    /// The address the client originally connected to, when something says so: the destination of a received PROXY
    /// header, or (transparent mode) netfilter's original destination; what <c>address: original_dst</c> connects
    /// to. Null when unknown; the address this connection reached tpt on is then <see cref="LocalEndPoint"/>.
    /// </summary>
    public IPEndPoint? OriginalDestination { get; set; }

    /// <summary>The PROXY header the client sent (<c>proxy_protocol: accept | require</c>); null when none was read.</summary>
    public ProxyProtocol.ProxyProtocolHeader? ProxyHeader { get; private set; }

    /// <summary>
    /// Takes a received PROXY header in: with addresses, its source becomes <see cref="RemoteEndPoint"/> and its
    /// destination <see cref="OriginalDestination"/>; LOCAL, UNKNOWN and AF_UNSPEC leave the socket's addresses.
    /// </summary>
    public void ApplyProxyHeader(ProxyProtocol.ProxyProtocolHeader header)
    {
        ProxyHeader = header;
        if (header.HasAddresses)
        {
            RemoteEndPoint = header.Source;
            OriginalDestination = header.Destination;
        }
    }

    public RuntimeServer Server { get; } = server;

    public ListenAddress Listen { get; } = listen;

    public long StartTimestamp { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

    public RelayCounters Counters { get; } = new();

    private byte[]? _initialBuffer;

    /// <summary>Bytes read from the client while reading the ClientHello; replayed first.</summary>
    public ReadOnlyMemory<byte> InitialBytes { get; private set; }

    /// <summary>
    /// Takes ownership of the pooled buffer holding the bytes read so far. A buffer still held for a TLS stream's
    /// unread prefix (see <see cref="ConsumeInitialBytes"/>) is left to the garbage collector, never returned under it.
    /// </summary>
    public void SetInitialBytes(byte[]? pooledBuffer, int length)
    {
        _initialBuffer = pooledBuffer;
        InitialBytes = pooledBuffer is null ? ReadOnlyMemory<byte>.Empty : pooledBuffer.AsMemory(0, length);
    }

    /// <summary>
    /// Hands the initial bytes' pooled buffer (the bytes at its start) to a reader that goes on filling it: the
    /// connection no longer owns it.
    /// </summary>
    public byte[]? TakeInitialBytes(out int length)
    {
        length = InitialBytes.Length;
        InitialBytes = ReadOnlyMemory<byte>.Empty;
        return Interlocked.Exchange(ref _initialBuffer, null);
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

    private long _idleLimitMs;

    /// <summary>The idle_timeout the <see cref="IdleSweeper"/> holds this connection to, in ms; 0 while not watched.</summary>
    public long IdleLimitMs
    {
        get => Volatile.Read(ref _idleLimitMs);
        set => Volatile.Write(ref _idleLimitMs, value);
    }

    /// <summary>Why <see cref="Abort"/> was called (idle timeout, write timeout, shutdown), reported instead of the relay's view.</summary>
    public ConnectionOutcome AbortReason { get; private set; } = ConnectionOutcome.Aborted;

    /// <summary>Registers the upstream socket so that <see cref="Abort"/> can cut it too.</summary>
    /// <param name="engine">The upstream socket as the Linux engine drives it, when the engine connected it.</param>
    public void AttachUpstream(Socket upstream, EngineSocket? engine = null)
    {
        UpstreamEngine = engine;
        _upstream = upstream;
        _upstreamLeg = null;
        if (IsAborted)
        {
            Reset(upstream, engine);
        }
    }

    /// <summary>The upstream leg now speaks TLS over the socket given to <see cref="AttachUpstream"/>.</summary>
    public void UpgradeUpstream(IConnectionLeg leg) => _upstreamLeg = leg;

    /// <summary>The client leg now speaks TLS over <see cref="Client"/>.</summary>
    public void UpgradeClient(IConnectionLeg leg) => _clientLeg = leg;

    /// <summary>Cuts both sockets with RST; pending operations complete at once. Safe to call from any thread, any number of times.</summary>
    public void Abort() => Abort(ConnectionOutcome.Aborted);

    /// <summary>
    /// Cuts both sockets with RST without claiming the end for an outside reason: the relay calls this once one
    /// side has failed, and that side's failure (client_error, upstream_error) stays the outcome.
    /// </summary>
    public void Cut()
    {
        Reset(Client, ClientEngine);
        if (_upstream is { } upstream)
        {
            Reset(upstream, UpstreamEngine);
        }
    }

    public void Abort(ConnectionOutcome reason)
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        AbortReason = reason;

        Reset(Client, ClientEngine);
        if (_upstream is { } upstream)
        {
            Reset(upstream, UpstreamEngine);
        }
    }

    public void Dispose() => Close();

    /// <summary>Closes both legs and gives the server's place back (once); safe to call more than once.</summary>
    public void Close()
    {
        // Out of the engine first: its loop must be done with a descriptor before the descriptor is closed.
        ClientEngine?.Release();
        UpstreamEngine?.Release();

        // A TLS leg disposes its stream (its buffers go back to the pool) and then its socket.
        if (_clientLeg is { } clientLeg)
        {
            clientLeg.Dispose();
        }
        else
        {
            Client.Dispose();
        }
        if (_upstreamLeg is { } leg)
        {
            leg.Dispose();
        }
        else
        {
            _upstream?.Dispose();
        }

        ReleaseSlot();
    }

    /// <summary>Gives the server's place back (once; <see cref="Close"/> does too).</summary>
    public void ReleaseSlot()
    {
        if (Interlocked.Exchange(ref _slotReleased, 1) == 0)
        {
            _slot.Release();
        }
    }

    private static void Reset(Socket socket, EngineSocket? engine)
    {
        if (engine is not null)
        {
            // The engine may be inside a call on this descriptor: wake it and let the owner close it later.
            engine.Abort();
            return;
        }

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
