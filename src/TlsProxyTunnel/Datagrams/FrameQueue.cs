using System.Threading.Channels;

namespace TlsProxyTunnel.Datagrams;

/// <summary>
/// Datagrams waiting for a connection to carry them, bounded twice: by count, and by the bytes their pooled buffers
/// hold, so that a burst of small datagrams is absorbed while a flood of 64 KiB ones cannot pin more than
/// <see cref="MaxBytes"/> per session. Read by <see cref="FrameWriter"/> as a channel; a frame's bytes leave the
/// budget when it is taken.
/// </summary>
internal sealed class FrameQueue : ChannelReader<OutboundFrame>
{
    /// <summary>
    /// Deeper than udp-over-tls-pool's 128: at tens of thousands of datagrams a second a thread's wake-up takes
    /// longer than 128 datagrams take to arrive, and the queue is a few milliseconds of traffic either way.
    /// </summary>
    internal const int Depth = 1024;

    /// <summary>The pooled bytes one queue may hold (1 024 full-size WireGuard packets fit; 32 of 64 KiB).</summary>
    internal const int MaxBytes = 2 * 1024 * 1024;

    private readonly Channel<OutboundFrame> _channel = Channel.CreateBounded<OutboundFrame>(new BoundedChannelOptions(Depth) { SingleWriter = true });
    private long _bytes;

    /// <summary>Queues <paramref name="frame"/>; false (the frame still the caller's) when the queue is full or closed.</summary>
    public bool TryEnqueue(OutboundFrame frame)
    {
        var size = frame.Buffer.Length;
        if (Interlocked.Add(ref _bytes, size) > MaxBytes || !_channel.Writer.TryWrite(frame))
        {
            Interlocked.Add(ref _bytes, -size);
            return false;
        }

        return true;
    }

    /// <summary>No more frames; those queued can still be read.</summary>
    public void Complete() => _channel.Writer.TryComplete();

    public override bool CanCount => true;

    public override bool CanPeek => true;

    public override int Count => _channel.Reader.Count;

    public override bool TryRead(out OutboundFrame item)
    {
        if (!_channel.Reader.TryRead(out item))
        {
            return false;
        }

        Interlocked.Add(ref _bytes, -item.Buffer.Length);
        return true;
    }

    public override bool TryPeek(out OutboundFrame item) => _channel.Reader.TryPeek(out item);

    public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => _channel.Reader.WaitToReadAsync(cancellationToken);
}
