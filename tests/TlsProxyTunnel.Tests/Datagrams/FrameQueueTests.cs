using TlsProxyTunnel.Datagrams;

namespace TlsProxyTunnel.Tests.Datagrams;

public sealed class FrameQueueTests
{
    [Fact]
    public void A_burst_of_small_datagrams_fills_the_queue_to_its_depth_and_the_next_is_refused()
    {
        var queue = new FrameQueue();
        var payload = new byte[100];
        for (var i = 0; i < FrameQueue.Depth; i++)
        {
            Assert.True(queue.TryEnqueue(OutboundFrame.Create(payload)), $"frame {i}");
        }

        var refused = OutboundFrame.Create(payload);
        Assert.False(queue.TryEnqueue(refused));
        refused.Return();
        Assert.Equal(FrameQueue.Depth, queue.Count);
        Drain(queue);
    }

    [Fact]
    public void Large_datagrams_are_bounded_by_bytes_long_before_the_depth_and_reading_makes_room_again()
    {
        var queue = new FrameQueue();
        var payload = new byte[65_507];
        var accepted = 0;
        long held = 0;
        while (true)
        {
            var frame = OutboundFrame.Create(payload);
            if (!queue.TryEnqueue(frame))
            {
                frame.Return();
                break;
            }

            held += frame.Buffer.Length;
            accepted++;
        }

        Assert.InRange(held, 1, FrameQueue.MaxBytes);
        Assert.InRange(accepted, 1, 32);

        // One taken: its bytes leave the budget, and one more fits.
        Assert.True(queue.TryRead(out var first));
        first.Return();
        var again = OutboundFrame.Create(payload);
        Assert.True(queue.TryEnqueue(again));
        Assert.Equal(accepted, queue.Count);
        Drain(queue);
    }

    [Fact]
    public async Task Frames_come_out_in_order_and_a_completed_queue_refuses_new_ones_but_gives_up_the_rest()
    {
        var queue = new FrameQueue();
        for (var i = 0; i < 3; i++)
        {
            Assert.True(queue.TryEnqueue(OutboundFrame.Create([(byte)i])));
        }

        queue.Complete();
        var late = OutboundFrame.Create([9]);
        Assert.False(queue.TryEnqueue(late));
        late.Return();

        for (var i = 0; i < 3; i++)
        {
            Assert.True(await queue.WaitToReadAsync());
            Assert.True(queue.TryPeek(out var peeked));
            Assert.True(queue.TryRead(out var frame));
            Assert.Equal(peeked.Buffer, frame.Buffer);
            Assert.Equal(i, frame.Payload[0]);
            frame.Return();
        }

        Assert.False(await queue.WaitToReadAsync());
    }

    private static void Drain(FrameQueue queue)
    {
        while (queue.TryRead(out var frame))
        {
            frame.Return();
        }
    }
}
