using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace TlsProxyTunnel.Tls;

/// <summary>
/// A socket's stream that first returns bytes already read from it: the ClientHello read for routing goes into
/// the server handshake, and bytes a CONNECT proxy sent after its response go into the client handshake.
/// Nothing is lost and nothing is read twice. Writes go straight to the socket. Being the stream under SslStream,
/// it also tells the leg's <see cref="TlsReadGate"/> when a read waits on the socket.
/// </summary>
internal sealed class PrefixedStream(Socket socket, ReadOnlyMemory<byte> prefix) : NetworkStream(socket, ownsSocket: false)
{
    private ReadOnlyMemory<byte> _prefix = prefix;

    public TlsReadGate Gate { get; } = new();

    /// <summary>Every prefix byte has been read: the memory behind it may be reused.</summary>
    public bool PrefixConsumed => _prefix.IsEmpty;

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_prefix.IsEmpty || buffer.IsEmpty)
        {
            // A zero-byte read waits for data; with a prefix left there is data already.
            return _prefix.IsEmpty ? ReadSocketAsync(buffer, cancellationToken) : ValueTask.FromResult(0);
        }

        return ValueTask.FromResult(TakePrefix(buffer.Span));
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadSocketAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        Gate.InnerReadStarting();
        var read = await base.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        await Gate.InnerReadDoneAsync(cancellationToken).ConfigureAwait(false);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(Span<byte> buffer) => _prefix.IsEmpty ? base.Read(buffer) : TakePrefix(buffer);

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    private int TakePrefix(Span<byte> buffer)
    {
        var n = Math.Min(buffer.Length, _prefix.Length);
        _prefix.Span[..n].CopyTo(buffer);
        _prefix = _prefix[n..];
        return n;
    }
}
