using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Upstreams.Pool;

namespace TlsProxyTunnel.Tests.Upstreams.Pool;

/// <summary>
/// The pool's rules on real loopback sockets, with time from a <see cref="FakeTimeProvider"/> (ttl, backoff,
/// wait_timeout) and dials released one by one by the test: warm-up, refill, ttl, backoff, FIFO waiters,
/// wait_timeout, max_waiters, a broken idle connection never handed out, server_first.
/// </summary>
[Collection(Infrastructure.RunAlone.Name)]
public sealed class ConnectionPoolTests : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch);
    private readonly PoolMetrics _metrics = new("hub");
    private LoopbackDialer? _dialer;
    private ConnectionPool? _pool;

    public async ValueTask DisposeAsync()
    {
        if (_pool is not null)
        {
            await _pool.DisposeAsync();
        }

        _dialer?.Dispose();
    }

    [Fact]
    public async Task Warm_up_fills_every_slot_and_each_take_is_refilled_at_once()
    {
        var pool = Start(new PoolSettings { Size = 3 }, new LoopbackDialer());
        await UntilAsync(pool, () => pool.IdleCount == 3);
        Assert.Equal(3, _dialer!.Dials);
        Assert.Equal(3, _metrics.Idle);
        Assert.Equal(3, _metrics.Size);

        var take = await pool.TakeAsync();
        Assert.Equal(PoolTakeStatus.Hit, take.Status);
        take.Connection!.Dispose();
        await UntilAsync(pool, () => pool.IdleCount == 3);
        Assert.Equal(4, _dialer.Dials);
        Assert.Equal((1, 0), (_metrics.Hits, _metrics.Misses));
    }

    [Fact]
    public async Task An_idle_connection_is_replaced_when_its_ttl_runs_out_and_not_before()
    {
        var pool = Start(new PoolSettings { Size = 2, Ttl = TimeSpan.FromSeconds(30) }, new LoopbackDialer());
        var first = await _dialer!.NextAcceptedAsync();
        var second = await _dialer.NextAcceptedAsync();
        await UntilAsync(pool, () => pool.IdleCount == 2);

        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(2, pool.IdleCount);

        _time.Advance(TimeSpan.FromSeconds(1));
        await AssertClosedAsync(first);
        await AssertClosedAsync(second);
        await _dialer.NextAcceptedAsync();
        await _dialer.NextAcceptedAsync();
        await UntilAsync(pool, () => pool.IdleCount == 2);
        Assert.Equal(4, _dialer.Dials);
    }

    [Fact]
    public async Task A_connection_its_server_closed_while_idle_is_never_handed_out_and_its_slot_backs_off()
    {
        var pool = Start(new PoolSettings { Size = 2, Backoff = TimeSpan.FromSeconds(5) }, new LoopbackDialer(permits: 2) { Clock = _time });
        var servers = new[] { await _dialer!.NextAcceptedAsync(), await _dialer.NextAcceptedAsync() };
        await UntilAsync(pool, () => pool.IdleCount == 2);

        // Killed server side, and a client at once: before the watch can have looked, the take must still see it.
        foreach (var server in servers)
        {
            server.Close();
        }

        var take = pool.TakeAsync().AsTask();
        if (take.IsCompleted)
        {
            Assert.NotEqual(PoolTakeStatus.Hit, (await take).Status);
        }

        await UntilAsync(pool, () => pool.IdleCount == 0);
        var brokenAt = _time.GetUtcNow();

        // Both slots back off: the waiting client gets a fresh connection, made no sooner than backoff after the
        // old ones broke. Fake time moves in small steps because a slot starts its backoff on its own thread,
        // a moment after the watch saw the end; each step gives it a chance to (bounded by real time).
        _dialer.Permit(2);
        var deadline = DateTime.UtcNow + Bound;
        while (!take.IsCompleted && DateTime.UtcNow < deadline)
        {
            _time.Advance(TimeSpan.FromMilliseconds(250));
            await Task.WhenAny(take, Task.Delay(20));
        }

        Assert.All(_dialer.DialTimes.Skip(2), at => Assert.True(at - brokenAt >= TimeSpan.FromSeconds(5), $"dialled {at - brokenAt} after the break"));
        var result = await take.WaitAsync(Bound);
        Assert.Equal(PoolTakeStatus.Waited, result.Status);

        // Both slots dialled again; which of the two the waiter got depends on which finished first.
        var fresh = new[] { await _dialer.NextAcceptedAsync(), await _dialer.NextAcceptedAsync() };
        await AssertConnectedToOneAsync(result.Connection!, fresh);
    }

    [Fact]
    public async Task Waiters_are_served_first_in_first_out_and_the_last_times_out_after_wait_timeout()
    {
        var pool = Start(new PoolSettings { Size = 1, WaitTimeout = TimeSpan.FromSeconds(15) }, new LoopbackDialer(permits: 1));
        await _dialer!.NextAcceptedAsync();
        await UntilAsync(pool, () => pool.IdleCount == 1);
        Assert.Equal(PoolTakeStatus.Hit, (await pool.TakeAsync()).Status);

        var waiting = new[] { pool.TakeAsync().AsTask(), pool.TakeAsync().AsTask(), pool.TakeAsync().AsTask() };
        Assert.Equal(3, pool.WaiterCount);
        Assert.Equal(3, _metrics.Waiters);

        _dialer.Permit();
        var firstServed = await waiting[0].WaitAsync(Bound);
        Assert.Equal(PoolTakeStatus.Waited, firstServed.Status);
        await AssertConnectedAsync(firstServed.Connection!, await _dialer.NextAcceptedAsync());
        Assert.False(waiting[1].IsCompleted || waiting[2].IsCompleted);

        _dialer.Permit();
        var secondServed = await waiting[1].WaitAsync(Bound);
        Assert.Equal(PoolTakeStatus.Waited, secondServed.Status);
        Assert.False(waiting[2].IsCompleted);

        _time.Advance(TimeSpan.FromSeconds(15));
        var timedOut = await waiting[2].WaitAsync(Bound);
        Assert.Equal(PoolTakeStatus.TimedOut, timedOut.Status);
        Assert.Null(timedOut.Connection);
        Assert.Equal((1L, 3L, 3L, 1L, 0L), (_metrics.Hits, _metrics.Misses, _metrics.Waits, _metrics.WaitTimeouts, _metrics.Waiters));
    }

    [Fact]
    public async Task Beyond_max_waiters_a_client_is_refused_at_once()
    {
        var pool = Start(new PoolSettings { Size = 1, MaxWaiters = 2 }, new LoopbackDialer(permits: 0));
        var waiting = new[] { pool.TakeAsync().AsTask(), pool.TakeAsync().AsTask() };
        var refused = pool.TakeAsync().AsTask();
        Assert.True(refused.IsCompleted);
        Assert.Equal(PoolTakeStatus.Full, (await refused).Status);
        Assert.All(waiting, w => Assert.False(w.IsCompleted));
        Assert.Equal(3, _metrics.Misses);
        Assert.Equal(2, _metrics.Waits);
    }

    [Fact]
    public async Task Server_first_discard_drops_what_an_idle_server_sent_and_keeps_the_connection()
    {
        var pool = Start(new PoolSettings { Size = 1, ServerFirst = ServerFirstMode.Discard }, new LoopbackDialer());
        var server = await _dialer!.NextAcceptedAsync();
        await UntilAsync(pool, () => pool.Parks == 1);
        await server.SendAsync(Encoding.ASCII.GetBytes("220 banner\r\n"));
        await UntilAsync(pool, () => pool.Parks == 2);

        // Still the first connection: the take below starts a refill at once, so count before it.
        Assert.Equal(1, _dialer.Dials);
        var take = await pool.TakeAsync();
        Assert.Equal(PoolTakeStatus.Hit, take.Status);
        Assert.True(take.Connection!.Kept.IsEmpty);
        await AssertConnectedAsync(take.Connection, server);
    }

    [Fact]
    public async Task Server_first_keep_hands_what_an_idle_server_sent_to_the_client()
    {
        var pool = Start(new PoolSettings { Size = 1, ServerFirst = ServerFirstMode.Keep }, new LoopbackDialer());
        var server = await _dialer!.NextAcceptedAsync();
        await UntilAsync(pool, () => pool.Parks == 1);
        await server.SendAsync(Encoding.ASCII.GetBytes("220 banner\r\n"));
        await UntilAsync(pool, () => pool.Parks == 2);

        var take = await pool.TakeAsync();
        Assert.Equal(PoolTakeStatus.Hit, take.Status);
        Assert.Equal("220 banner\r\n", Encoding.ASCII.GetString(take.Connection!.Kept.Span));
    }

    [Fact]
    public async Task Closing_the_pool_closes_idle_connections_and_lets_waiters_go()
    {
        var pool = Start(new PoolSettings { Size = 1 }, new LoopbackDialer(permits: 1));
        var server = await _dialer!.NextAcceptedAsync();
        await UntilAsync(pool, () => pool.IdleCount == 1);
        Assert.Equal(PoolTakeStatus.Hit, (await pool.TakeAsync()).Status);
        var waiter = pool.TakeAsync().AsTask();

        _dialer.Permit();
        var refill = await _dialer.NextAcceptedAsync();
        Assert.Equal(PoolTakeStatus.Waited, (await waiter.WaitAsync(Bound)).Status);
        _dialer.Permit();
        var idle = await _dialer.NextAcceptedAsync();
        await UntilAsync(pool, () => pool.IdleCount == 1);

        (await pool.TakeAsync()).Connection!.Dispose();
        var lastWaiter = pool.TakeAsync().AsTask();
        await pool.DisposeAsync();
        Assert.Equal(PoolTakeStatus.Closed, (await lastWaiter.WaitAsync(Bound)).Status);
        Assert.Equal(PoolTakeStatus.Closed, (await pool.TakeAsync()).Status);
        Assert.Equal(0, _metrics.Size);
        Assert.Equal(0, _metrics.Idle);
        GC.KeepAlive(server);
        GC.KeepAlive(refill);
        GC.KeepAlive(idle);
    }

    private ConnectionPool Start(PoolSettings settings, LoopbackDialer dialer)
    {
        _dialer = dialer;
        _pool = new ConnectionPool("hub", settings, dialer, _metrics, _time, NullLogger.Instance);
        _pool.Start();
        return _pool;
    }

    private static async Task UntilAsync(ConnectionPool pool, Func<bool> condition)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check()
        {
            if (condition())
            {
                reached.TrySetResult();
            }
        }

        pool.IdleChanged += Check;
        try
        {
            Check();
            await reached.Task.WaitAsync(Bound);
        }
        finally
        {
            pool.IdleChanged -= Check;
        }
    }

    /// <summary>The pool closed it: end of stream, or a reset (a socket closed with its idle watch pending may end abortively).</summary>
    private static async Task AssertClosedAsync(Socket socket)
    {
        var buffer = new byte[64];
        try
        {
            Assert.Equal(0, await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Bound));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
        }
    }

    /// <summary>What <paramref name="connection"/> sends arrives at one of <paramref name="servers"/>.</summary>
    private static async Task AssertConnectedToOneAsync(PooledConnection connection, Socket[] servers)
    {
        await connection.Socket.SendAsync(Encoding.ASCII.GetBytes("ping"), SocketFlags.None);
        var buffers = servers.Select(_ => new byte[4]).ToArray();
        var reads = servers.Select((server, i) => server.ReceiveAsync(buffers[i].AsMemory(), SocketFlags.None).AsTask()).ToArray();
        var first = await Task.WhenAny(reads).WaitAsync(Bound);
        var index = Array.IndexOf(reads, first);
        Assert.Equal("ping", Encoding.ASCII.GetString(buffers[index], 0, await first));
    }

    private static async Task AssertConnectedAsync(PooledConnection connection, Socket server)
    {
        await connection.Socket.SendAsync(Encoding.ASCII.GetBytes("ping"), SocketFlags.None);
        var buffer = new byte[4];
        var n = await server.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Bound);
        Assert.Equal("ping", Encoding.ASCII.GetString(buffer, 0, n));
    }
}
