using System.Buffers;
using System.Threading.Channels;
using TlsProxyTunnel.Relay;

namespace TlsProxyTunnel.Datagrams;

/// <summary>
/// Writes queued frames to a leg, several to a write when several are waiting: one send (and over TLS one record)
/// carries up to 16 KiB of frames instead of one each, which is what a busy tunnel spends its time on. The batch
/// buffer is rented once per connection; nothing is allocated per datagram.
/// </summary>
internal sealed class FrameWriter : IDisposable
{
    /// <summary>A TLS record's worth: larger batches only add latency to the first frame in them.</summary>
    internal const int BatchSize = 16 * 1024;

    private byte[] _batch = ArrayPool<byte>.Shared.Rent(BatchSize);

    /// <summary>
    /// Waits for frames and writes them until the queue completes or <paramref name="ct"/> is cancelled; calls
    /// <paramref name="written"/> with each frame's payload length once it is on the leg.
    /// </summary>
    public async Task RunAsync<TState>(ChannelReader<OutboundFrame> queue, IConnectionLeg leg, Action<TState, int> written, TState state, CancellationToken ct)
    {
        while (await queue.WaitToReadAsync(ct))
        {
            if (!queue.TryRead(out var first))
            {
                continue;
            }

            if (first.Frame.Length > BatchSize / 2)
            {
                // A large datagram goes as it is: copying it would cost more than the send it saves.
                try
                {
                    await leg.WriteAsync(first.Frame);
                    written(state, first.PayloadLength);
                }
                finally
                {
                    first.Return();
                }

                continue;
            }

            var length = Append(first, 0);
            var count = 1;
            while (queue.TryPeek(out var next) && length + next.Frame.Length <= BatchSize && queue.TryRead(out next))
            {
                length = Append(next, length);
                count++;
            }

            await leg.WriteAsync(_batch.AsMemory(0, length));

            // Payload lengths are read back from the headers just written: no list of them is kept.
            for (var offset = 0; count > 0; count--)
            {
                var payload = (_batch[offset] << 8) | _batch[offset + 1];
                written(state, payload);
                offset += UotpFrames.HeaderLength + payload;
            }
        }
    }

    private int Append(OutboundFrame frame, int at)
    {
        var bytes = frame.Frame.Span;
        bytes.CopyTo(_batch.AsSpan(at));
        var end = at + bytes.Length;
        frame.Return();
        return end;
    }

    public void Dispose()
    {
        var batch = Interlocked.Exchange(ref _batch, []);
        if (batch.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(batch);
        }
    }
}
