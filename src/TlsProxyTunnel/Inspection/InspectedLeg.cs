using System.Net.Sockets;
using TlsProxyTunnel.Relay;

namespace TlsProxyTunnel.Inspection;

/// <summary>
/// The client leg seen through <c>filters</c> and <c>capture</c>: bytes read from the client are filtered (<c>i</c>),
/// captured and handed to the relay; bytes written to the client are filtered (<c>o</c>), captured and sent. Around
/// the client leg after <c>terminate_tls</c>, so the capture holds plaintext. A relay with this leg takes the stream
/// path; servers without capture or filters never get one and keep the socket fast path.
/// </summary>
internal sealed class InspectedLeg(IConnectionLeg inner, CaptureWriter? capture, ByteFilterChain? fromClient, ByteFilterChain? toClient, string client) : IConnectionLeg
{
    private FilterCounts _counts;

    /// <summary>Filters run on this leg: the access log then shows <see cref="Counts"/>.</summary>
    public bool Filters => fromClient is not null || toClient is not null;

    /// <summary>The bytes each way before and after filters (read once the relay has ended).</summary>
    public FilterCounts Counts => _counts;

    // Filtered bytes from the client that did not fit the relay's buffer (a replace made the chunk longer).
    private ReadOnlyMemory<byte> _pending;

    public IConnectionLeg Inner => inner;

    public Socket Socket => inner.Socket;

    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (!_pending.IsEmpty)
        {
            return TakePending(buffer);
        }

        if (buffer.IsEmpty)
        {
            return await inner.ReadAsync(buffer, ct).ConfigureAwait(false);
        }

        while (true)
        {
            var read = await inner.ReadAsync(buffer, ct).ConfigureAwait(false);
            if (read == 0)
            {
                return 0;
            }

            var chunk = fromClient is null ? buffer[..read] : fromClient.Apply(buffer[..read]);
            _counts.FromClientBefore += read;
            _counts.FromClientAfter += chunk.Length;
            if (chunk.IsEmpty)
            {
                // Filtered away entirely: nothing to pass on, and 0 would mean EOF.
                continue;
            }

            if (capture is not null)
            {
                await capture.AddAsync(client, 'i', chunk.Span).ConfigureAwait(false);
            }

            if (chunk.Length <= buffer.Length && buffer.Span.Overlaps(chunk.Span, out var offset) && offset == 0)
            {
                return chunk.Length;
            }

            _pending = chunk;
            return TakePending(buffer);
        }
    }

    private int TakePending(Memory<byte> buffer)
    {
        var count = Math.Min(buffer.Length, _pending.Length);
        _pending[..count].CopyTo(buffer);
        _pending = _pending[count..];
        return count;
    }

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, SendStallWatch? stall = null, int slot = 0)
    {
        _counts.ToClientBefore += data.Length;
        if (toClient is not null)
        {
            // The relay's buffer is free to change until this write completes; a replayed leftover is copied first.
            var own = new byte[data.Length];
            data.CopyTo(own);
            data = toClient.Apply(own);
            if (data.IsEmpty)
            {
                return;
            }
        }

        _counts.ToClientAfter += data.Length;
        if (capture is not null)
        {
            await capture.AddAsync(client, 'o', data.Span).ConfigureAwait(false);
        }

        await inner.WriteAsync(data, stall, slot).ConfigureAwait(false);
    }

    public ValueTask ShutdownSendAsync() => inner.ShutdownSendAsync();

    public void NoteReadFailure(Exception error) => inner.NoteReadFailure(error);

    public void Dispose() => inner.Dispose();
}

/// <summary>What filters did to one connection: bytes each way before and after them.</summary>
internal struct FilterCounts
{
    public long FromClientBefore;
    public long FromClientAfter;
    public long ToClientBefore;
    public long ToClientAfter;
}
