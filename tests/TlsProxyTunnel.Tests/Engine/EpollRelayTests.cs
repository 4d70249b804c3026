using System.Net.Sockets;
using System.Security.Cryptography;
using TlsProxyTunnel.Engine.Linux;
using TlsProxyTunnel.Relay;
using static TlsProxyTunnel.Tests.Engine.EngineTestKit;

namespace TlsProxyTunnel.Tests.Engine;

/// <summary>
/// The relay on the Linux engine between two real loopback connections: client peer ⇄ [client | relay | upstream]
/// ⇄ upstream peer, the middle two on one loop as the data path puts them.
/// </summary>
[Collection(LinuxEngineAlone.Name)]
public sealed class EpollRelayTests : IAsyncLifetime
{
    private readonly RelayCounters _counters = new();
    private Socket _clientPeer = null!;
    private Socket _upstreamPeer = null!;
    private EngineSocket _client = null!;
    private EngineSocket _upstream = null!;

    public async Task InitializeAsync()
    {
        var loop = TheEngine.NextLoop();
        var (clientPeer, clientLocal) = await PairAsync();
        var (upstreamPeer, upstreamLocal) = await PairAsync();
        _clientPeer = clientPeer;
        _upstreamPeer = upstreamPeer;
        _client = Attach(clientLocal, loop);
        _upstream = Attach(upstreamLocal, loop);
    }

    public Task DisposeAsync()
    {
        Close(_client);
        Close(_upstream);
        _clientPeer.Dispose();
        _upstreamPeer.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Fifty_megabytes_each_way_at_once_arrive_intact_and_are_counted()
    {
        const int Size = 50 * 1024 * 1024;
        var up = RandomNumberGenerator.GetBytes(Size);
        var down = RandomNumberGenerator.GetBytes(Size);
        var relay = EpollRelay.RunAsync(_client, _upstream, _counters).AsTask();

        var upstreamGot = ReadToEndAsync(_upstreamPeer);
        var clientGot = ReadToEndAsync(_clientPeer);
        await Task.WhenAll(SendAllThenFinAsync(_clientPeer, up), SendAllThenFinAsync(_upstreamPeer, down)).WaitAsync(Patience);

        Assert.Equal(SHA256.HashData(up), SHA256.HashData(await upstreamGot.WaitAsync(Patience)));
        Assert.Equal(SHA256.HashData(down), SHA256.HashData(await clientGot.WaitAsync(Patience)));
        Assert.Equal(RelayResult.Completed, await relay.WaitAsync(Patience));
        Assert.Equal(Size, _counters.FromClient);
        Assert.Equal(Size, _counters.ToClient);
    }

    [Fact]
    public async Task A_bulk_transfer_goes_socket_to_socket_through_a_pipe_and_a_small_exchange_never_does()
    {
        Assert.True(SplicePipe.Enabled);
        var relay = EpollRelay.RunAsync(_client, _upstream, _counters).AsTask();

        // Request and answer of a few bytes each: copied through the process, as every small exchange is.
        var before = SplicePipe.Moved;
        for (var i = 0; i < 20; i++)
        {
            await _clientPeer.SendAsync("ping"u8.ToArray(), SocketFlags.None);
            Assert.Equal("ping"u8.ToArray(), await ReadExactlyAsync(_upstreamPeer, 4));
            await _upstreamPeer.SendAsync("pong"u8.ToArray(), SocketFlags.None);
            Assert.Equal("pong"u8.ToArray(), await ReadExactlyAsync(_clientPeer, 4));
        }

        Assert.Equal(before, SplicePipe.Moved);

        // 32 MB one way: after the first full buffer, the rest moves by splice (every byte still arrives, in order).
        var bulk = RandomNumberGenerator.GetBytes(32 * 1024 * 1024);
        var got = ReadToEndAsync(_upstreamPeer);
        await SendAllThenFinAsync(_clientPeer, bulk).WaitAsync(Patience);
        Assert.Equal(SHA256.HashData(bulk), SHA256.HashData(await got.WaitAsync(Patience)));
        Assert.InRange(SplicePipe.Moved - before, bulk.Length / 2, bulk.Length);

        _upstreamPeer.Shutdown(SocketShutdown.Send);
        Assert.Equal(RelayResult.Completed, await relay.WaitAsync(Patience));
        Assert.Equal(bulk.Length + 80, _counters.FromClient);
    }

    [Fact]
    public async Task The_bytes_read_before_the_relay_go_to_the_upstream_first()
    {
        var initial = System.Buffers.ArrayPool<byte>.Shared.Rent(16);
        "HELLO"u8.CopyTo(initial);
        var relay = EpollRelay.RunAsync(_client, _upstream, _counters, initial: initial, initialLength: 5).AsTask();
        await _clientPeer.SendAsync("WORLD"u8.ToArray(), SocketFlags.None);

        Assert.Equal("HELLOWORLD"u8.ToArray(), await ReadExactlyAsync(_upstreamPeer, 10));
        _clientPeer.Shutdown(SocketShutdown.Send);
        _upstreamPeer.Shutdown(SocketShutdown.Send);
        Assert.Equal(RelayResult.Completed, await relay.WaitAsync(Patience));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_fin_is_passed_on_and_the_other_direction_keeps_flowing_until_its_own_fin(bool clientFirst)
    {
        var relay = EpollRelay.RunAsync(_client, _upstream, _counters).AsTask();
        var (first, second) = clientFirst ? (_clientPeer, _upstreamPeer) : (_upstreamPeer, _clientPeer);

        await first.SendAsync("last words"u8.ToArray(), SocketFlags.None);
        first.Shutdown(SocketShutdown.Send);
        Assert.Equal("last words"u8.ToArray(), await ReadToEndAsync(second).WaitAsync(Patience));

        // The half that is still open carries data, several times, and only its own FIN ends the relay.
        for (var i = 0; i < 3; i++)
        {
            var chunk = RandomNumberGenerator.GetBytes(300_000);
            var got = ReadExactlyAsync(first, chunk.Length);
            await second.SendAsync(chunk, SocketFlags.None).WaitAsync(Patience);
            Assert.Equal(chunk, await got);
        }

        Assert.False(relay.IsCompleted);
        second.Shutdown(SocketShutdown.Send);
        Assert.Empty(await ReadToEndAsync(first).WaitAsync(Patience));
        Assert.Equal(RelayResult.Completed, await relay.WaitAsync(Patience));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(false, true)]
    public async Task A_peer_reset_mid_stream_is_blamed_on_its_side_and_the_other_peer_is_reset(bool clientResets, bool whileStreaming)
    {
        var relay = EpollRelay.RunAsync(_client, _upstream, _counters).AsTask();
        var (failing, other) = clientResets ? (_clientPeer, _upstreamPeer) : (_upstreamPeer, _clientPeer);

        await failing.SendAsync("some"u8.ToArray(), SocketFlags.None);
        Assert.Equal("some"u8.ToArray(), await ReadExactlyAsync(other, 4));
        using var streaming = new CancellationTokenSource();
        var stream = whileStreaming ? StreamUntilCancelledAsync(other, streaming.Token) : Task.CompletedTask;

        failing.LingerState = new LingerOption(true, 0);
        failing.Close();
        var result = await relay.WaitAsync(Patience);
        await streaming.CancelAsync();
        await stream.WaitAsync(Patience);

        Assert.Equal(clientResets ? RelayResult.ClientFailed : RelayResult.UpstreamFailed, result);

        // As the socket relay's cut: the surviving peer learns of the failure by a reset once the sockets close.
        Close(_client);
        Close(_upstream);
        Assert.Equal(SocketError.ConnectionReset, await EndSeenAsync(other));
    }

    [Fact]
    public async Task A_peer_that_never_reads_stops_the_relay_reading_the_sender_then_abort_ends_it_at_once()
    {
        using var watch = new LoopBufferWatch();
        var pipesBefore = SplicePipe.InUse;
        var relay = EpollRelay.RunAsync(_client, _upstream, _counters).AsTask();

        // The upstream peer never reads: the client's sends must come to block, the bytes piling up in the kernel
        // (the engine side's receive queue) rather than in the process.
        var chunk = new byte[64 * 1024];
        long sent = 0;
        Task<int> send;
        while (true)
        {
            send = _clientPeer.SendAsync(chunk, SocketFlags.None);
            if (await Task.WhenAny(send, Task.Delay(TimeSpan.FromSeconds(1))) != send)
            {
                break;
            }

            sent += await send;
            Assert.True(sent < 256L * 1024 * 1024, "the client sent 256 MiB to a peer that reads nothing: the relay buffers without bound");
        }

        // Blocked: what the relay passed on stays put, the rest waits in the kernel (the relay keeps one buffer or,
        // a bulk transfer being spliced, one pipe of in-flight bytes, no more).
        var passed = _counters.FromClient;
        await LoopDrainedAsync(_client.Loop);
        Assert.Equal(passed, _counters.FromClient);
        Assert.InRange(sent - passed, 1, long.MaxValue);
        Assert.Equal(1, watch.Held + (SplicePipe.InUse - pipesBefore));
        Assert.False(relay.IsCompleted);

        var started = DateTime.UtcNow;
        _client.Abort();
        Assert.Equal(RelayResult.Aborted, await relay.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(2), "abort took as long as a timeout, not at once");
        Assert.Equal(0, watch.Held);
        Assert.Equal(pipesBefore, SplicePipe.InUse);

        // The close resets the client, whose blocked send then fails (the reset's error goes to that call).
        Close(_client);
        var failed = await Assert.ThrowsAsync<SocketException>(() => send.WaitAsync(Patience));
        Assert.Equal(SocketError.ConnectionReset, failed.SocketErrorCode);
    }

    [Fact]
    public async Task Abort_of_the_upstream_side_while_the_client_side_waits_idle_ends_the_relay()
    {
        var relay = EpollRelay.RunAsync(_client, _upstream, _counters).AsTask();
        await _clientPeer.SendAsync("ping"u8.ToArray(), SocketFlags.None);
        Assert.Equal("ping"u8.ToArray(), await ReadExactlyAsync(_upstreamPeer, 4));

        // Let the events of that exchange (the ACK's EPOLLOUT) pass, so that only the abort itself can wake the relay.
        await LoopDrainedAsync(_upstream.Loop);
        _upstream.Abort();
        Assert.Equal(RelayResult.Aborted, await relay.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task An_idle_relayed_pair_holds_no_buffer_and_one_with_bytes_in_flight_does()
    {
        using var watch = new LoopBufferWatch();
        var relay = EpollRelay.RunAsync(_client, _upstream, _counters).AsTask();

        // Traffic both ways, more than one buffer's worth, all read by the peers.
        for (var i = 0; i < 3; i++)
        {
            var up = RandomNumberGenerator.GetBytes(200_000);
            var down = RandomNumberGenerator.GetBytes(200_000);
            var upGot = ReadExactlyAsync(_upstreamPeer, up.Length);
            var downGot = ReadExactlyAsync(_clientPeer, down.Length);
            await Task.WhenAll(_clientPeer.SendAsync(up, SocketFlags.None), _upstreamPeer.SendAsync(down, SocketFlags.None)).WaitAsync(Patience);
            Assert.Equal(up, await upGot);
            Assert.Equal(down, await downGot);
        }

        // Idle now: every buffer the loop rented for it is back in the pool.
        Assert.True(await EventuallyAsync(() => watch.Held == 0, TimeSpan.FromSeconds(5)), $"an idle relay holds {watch.Held} buffer(s)");
        Assert.False(relay.IsCompleted);

        _clientPeer.Shutdown(SocketShutdown.Send);
        _upstreamPeer.Shutdown(SocketShutdown.Send);
        Assert.Equal(RelayResult.Completed, await relay.WaitAsync(Patience));
        Assert.Equal(0, watch.Held);
    }

    private static async Task StreamUntilCancelledAsync(Socket socket, CancellationToken ct)
    {
        var chunk = new byte[16 * 1024];
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await socket.SendAsync(chunk, SocketFlags.None, ct);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            // The relay reset it, or the test is done.
        }
    }
}
