using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Upstreams.Pool;

/// <summary>Why a parked connection left the idle list; tells its slot what to do next.</summary>
internal enum ParkEnd
{
    /// <summary>A client took it: build the next one at once.</summary>
    Taken,

    /// <summary>Idle for ttl: replace it at once.</summary>
    Expired,

    /// <summary>The server closed or reset it (or sent more than a kept banner may hold): back off, then rebuild.</summary>
    Broken,

    /// <summary>The pool was closed.</summary>
    Closed,
}

/// <summary>
/// A connection made ahead of any client: TCP (and CONNECT, and TLS) done. While parked, one pending zero-byte
/// read watches it (<see cref="PendingRead"/>): it holds no buffer, completes when the server sends application
/// data or closes, and, on a TLS stream, lets the stream consume TLS 1.3 NewSessionTicket messages without
/// completing. A client that takes the connection inherits that read instead of cancelling it.
/// </summary>
internal sealed class PooledConnection(Socket socket, SslStream? tls, EndPoint remote, string? tlsVersion, ReadOnlyMemory<byte> kept, TlsReadGate? gate = null) : IDisposable
{
    /// <summary>The most a server may send to an idle connection under <c>server_first: keep</c>; more makes it broken.</summary>
    public const int MaxKeptBytes = 64 * 1024;

    public Socket Socket { get; } = socket;

    /// <summary>The TLS stream over <see cref="Socket"/> when the upstream has <c>tls</c>; null for plain TCP.</summary>
    public SslStream? Tls { get; } = tls;

    /// <summary>The read gate of the stream under <see cref="Tls"/>: the idle watch reads through it, as the client's leg will (see <see cref="TlsReadGate"/>).</summary>
    public TlsReadGate? Gate { get; } = gate;

    public EndPoint RemoteEndPoint { get; } = remote;

    public string? TlsVersion { get; } = tlsVersion;

    /// <summary>What the server sent before use (<c>server_first: keep</c>, or a via's bytes after CONNECT): the client gets it first.</summary>
    public ReadOnlyMemory<byte> Kept { get; private set; } = kept;

    /// <summary>The idle watch's zero-byte read; null when the connection went straight to a waiting client.</summary>
    public Task<int>? PendingRead { get; internal set; }

    // Pool bookkeeping, guarded by the pool's lock.
    internal LinkedListNode<PooledConnection>? Node { get; set; }

    internal ITimer? Expiry { get; set; }

    internal TaskCompletionSource<ParkEnd>? End { get; set; }

    /// <summary>Its ttl ran out while its watch was reading what the server sent.</summary>
    internal bool ExpiredWhileOut { get; set; }

    public void DropKept() => Kept = ReadOnlyMemory<byte>.Empty;

    /// <summary>Appends bytes the idle server sent; false once more than <see cref="MaxKeptBytes"/> would be kept.</summary>
    public bool Keep(ReadOnlySpan<byte> data)
    {
        if (Kept.Length + data.Length > MaxKeptBytes)
        {
            return false;
        }

        var joined = new byte[Kept.Length + data.Length];
        Kept.Span.CopyTo(joined);
        data.CopyTo(joined.AsSpan(Kept.Length));
        Kept = joined;
        return true;
    }

    public void Dispose()
    {
        Expiry?.Dispose();
        Tls?.Dispose();
        Socket.Dispose();
    }
}
