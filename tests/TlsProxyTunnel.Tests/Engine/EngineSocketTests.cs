using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.Engine.Linux;
using static TlsProxyTunnel.Tests.Engine.EngineTestKit;

namespace TlsProxyTunnel.Tests.Engine;

/// <summary>One socket on the Linux engine, over real loopback connections: waits, abort, connect, and what is left behind.</summary>
[Collection(LinuxEngineAlone.Name)]
public sealed class EngineSocketTests
{
    /// <summary>How long a wait that must not end is watched: long enough for a wrong wake-up, short enough for the suite.</summary>
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task A_zero_byte_receive_waits_for_data_and_takes_none_of_it()
    {
        var (peer, local) = await PairAsync();
        using var _ = peer;
        var socket = Attach(local, TheEngine.NextLoop());
        try
        {
            var wait = socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask();
            await LoopDrainedAsync(socket.Loop);
            Assert.False(wait.IsCompleted, "a zero-byte receive returned with no data there");

            await peer.SendAsync("abc"u8.ToArray(), SocketFlags.None);
            Assert.Equal(0, await wait.WaitAsync(Patience));

            // Data is there: another zero-byte receive returns at once, and the bytes are all still to be read.
            Assert.Equal(0, await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask().WaitAsync(Patience));
            var buffer = new byte[16];
            Assert.Equal(3, await socket.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Patience));
            Assert.Equal("abc"u8.ToArray(), buffer[..3]);
        }
        finally
        {
            Close(socket);
        }
    }

    [Fact]
    public async Task A_zero_byte_receive_after_the_data_was_taken_waits_again()
    {
        var (peer, local) = await PairAsync();
        using var _ = peer;
        var socket = Attach(local, TheEngine.NextLoop());
        try
        {
            await peer.SendAsync("abc"u8.ToArray(), SocketFlags.None);
            Assert.Equal(0, await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask().WaitAsync(Patience));
            var buffer = new byte[16];
            Assert.Equal(3, await socket.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Patience));

            // Nothing left: as Socket.ReceiveAsync, the zero-byte receive must wait for the next bytes.
            var wait = socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask();
            await LoopDrainedAsync(socket.Loop);
            Assert.False(wait.IsCompleted, "a zero-byte receive returned with no data there (the last read had emptied the socket)");
            await peer.SendAsync("d"u8.ToArray(), SocketFlags.None);
            Assert.Equal(0, await wait.WaitAsync(Patience));
            Assert.Equal(1, await socket.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Patience));
        }
        finally
        {
            Close(socket);
        }
    }

    [Fact]
    public async Task A_receive_waits_for_data_then_reads_the_fin_as_zero()
    {
        var (peer, local) = await PairAsync();
        using var _ = peer;
        var socket = Attach(local, TheEngine.NextLoop());
        try
        {
            var buffer = new byte[16];
            var read = socket.ReceiveAsync(buffer, CancellationToken.None).AsTask();
            await LoopDrainedAsync(socket.Loop);
            Assert.False(read.IsCompleted);
            await peer.SendAsync("xy"u8.ToArray(), SocketFlags.None);
            Assert.Equal(2, await read.WaitAsync(Patience));

            peer.Shutdown(SocketShutdown.Send);
            Assert.Equal(0, await socket.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Patience));
        }
        finally
        {
            Close(socket);
        }
    }

    [Fact]
    public async Task A_cancelled_receive_throws_and_the_socket_can_wait_again()
    {
        var (peer, local) = await PairAsync();
        using var _ = peer;
        var socket = Attach(local, TheEngine.NextLoop());
        try
        {
            var buffer = new byte[16];
            using var cts = new CancellationTokenSource(Quiet);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => socket.ReceiveAsync(buffer, cts.Token).AsTask().WaitAsync(Patience));

            // Already cancelled: no wait at all.
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => socket.ReceiveAsync(buffer, cts.Token).AsTask().WaitAsync(Patience));

            var read = socket.ReceiveAsync(buffer, CancellationToken.None).AsTask();
            await peer.SendAsync("z"u8.ToArray(), SocketFlags.None);
            Assert.Equal(1, await read.WaitAsync(Patience));
        }
        finally
        {
            Close(socket);
        }
    }

    [Fact]
    public async Task Abort_ends_a_pending_receive_at_once_and_the_close_resets_the_peer()
    {
        var (peer, local) = await PairAsync();
        using var _ = peer;
        var socket = Attach(local, TheEngine.NextLoop());
        var buffer = new byte[16];
        var read = socket.ReceiveAsync(buffer, CancellationToken.None).AsTask();
        await LoopDrainedAsync(socket.Loop);
        Assert.False(read.IsCompleted);

        socket.Abort();
        Assert.True(socket.IsAborted);

        // The receive ends with nothing read (as the end of the stream), not after any timeout.
        Assert.Equal(0, await read.WaitAsync(TimeSpan.FromSeconds(2)));

        // Shutting the receive side is not seen by the peer; the close then sends the reset.
        await Task.Delay(Quiet);
        Assert.Equal(0, peer.Available);
        Close(socket);
        Assert.Equal(SocketError.ConnectionReset, await EndSeenAsync(peer));
    }

    [Fact]
    public async Task Abort_after_the_socket_was_released_and_closed_touches_no_other_socket()
    {
        // What the drain deadline (ConnectionTracker.AbortAll) or a late idle sweep does to a connection that has
        // just closed but is not yet out of the tracker.
        using var listener = Listen();
        var (peer, local) = await PairAsync();
        using var _ = peer;
        var stale = Attach(local, TheEngine.NextLoop());
        Close(stale);

        // A new socket takes the lowest free descriptor: the one just closed once the lower free ones are taken.
        var spares = new List<Socket>();
        Socket victim;
        while (true)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            if ((int)socket.SafeHandle.DangerousGetHandle() == stale.Fd)
            {
                victim = socket;
                break;
            }

            spares.Add(socket);
            Assert.True(spares.Count < 256, "the closed descriptor was not handed out again");
        }

        using var __ = victim;
        spares.ForEach(s => s.Dispose());
        var accept = listener.AcceptAsync();
        await victim.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Patience);
        using var other = await accept.WaitAsync(Patience);

        stale.Abort();

        // The victim's connection is untouched: it still waits for data, and gets it.
        var buffer = new byte[8];
        var read = victim.ReceiveAsync(buffer, SocketFlags.None);
        await Task.Delay(Quiet);
        Assert.False(read.IsCompleted, "the stale abort shut the receive side of another socket");
        await other.SendAsync("alive"u8.ToArray(), SocketFlags.None);
        Assert.Equal(5, await read.WaitAsync(Patience));
    }

    [Fact]
    public async Task Connect_to_a_listener_gives_a_registered_socket_that_reads_and_writes()
    {
        using var listener = Listen();
        var before = Registered();
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accept = listener.AcceptAsync();
        var (engine, error) = await EngineSocket.ConnectAsync(socket, (IPEndPoint)listener.LocalEndPoint!, TheEngine.NextLoop(), CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal(SocketError.Success, error);
        Assert.NotNull(engine);
        using var accepted = await accept.WaitAsync(Patience);
        try
        {
            Assert.Equal(before + 1, Registered());
            Assert.Equal(3, engine.TrySend("out"u8, out _));
            Assert.Equal("out"u8.ToArray(), await ReadExactlyAsync(accepted, 3));
            await accepted.SendAsync("in"u8.ToArray(), SocketFlags.None);
            var buffer = new byte[8];
            Assert.Equal(2, await engine.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Patience));
        }
        finally
        {
            Close(engine);
        }

        Assert.Equal(before, Registered());
    }

    [Fact]
    public async Task Connect_to_a_refused_port_returns_connection_refused_and_leaves_nothing_registered()
    {
        // A port bound but not listening: the kernel answers a SYN to it with a reset.
        using var reserved = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        reserved.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var before = Registered();
        var descriptors = OpenDescriptors();

        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            var (engine, error) = await EngineSocket.ConnectAsync(socket, (IPEndPoint)reserved.LocalEndPoint!, TheEngine.NextLoop(), CancellationToken.None).AsTask().WaitAsync(Patience);
            Assert.Null(engine);
            Assert.Equal(SocketError.ConnectionRefused, error);
            Assert.Equal(before, Registered());
        }
        finally
        {
            Dispose(socket);
        }

        Assert.Equal(descriptors, OpenDescriptors());
    }

    [Fact]
    public async Task Connect_to_an_address_that_never_answers_is_cancelled_promptly_and_leaves_nothing_registered()
    {
        using var blackHole = new BlackHole();
        var before = Registered();
        var descriptors = OpenDescriptors();

        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
            var started = DateTime.UtcNow;
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => EngineSocket.ConnectAsync(socket, blackHole.EndPoint, TheEngine.NextLoop(), cts.Token).AsTask().WaitAsync(Patience));
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(3), "the cancelled connect went on (a SYN retry or more)");
            Assert.Equal(before, Registered());
        }
        finally
        {
            Dispose(socket);
        }

        Assert.Equal(descriptors, OpenDescriptors());
    }

    [Fact]
    public async Task A_handler_that_throws_on_the_loop_costs_its_own_connection_only_and_the_loop_goes_on()
    {
        var loop = TheEngine.NextLoop();
        var reported = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        var previous = EpollLoop.OnHandlerError;
        EpollLoop.OnHandlerError = e => reported.TrySetResult(e);
        var (peer1, local1) = await PairAsync();
        var (peer2, local2) = await PairAsync();
        using var _1 = peer1;
        using var _2 = peer2;
        var failing = Attach(local1, loop);
        var neighbour = Attach(local2, loop);
        try
        {
            failing.SetHandler(new ThrowingHandler());
            var read = neighbour.ReceiveAsync(new byte[8], CancellationToken.None).AsTask();

            await peer1.SendAsync("x"u8.ToArray(), SocketFlags.None);
            Assert.IsType<InvalidOperationException>(await reported.Task.WaitAsync(Patience));
            Assert.True(failing.IsAborted);

            // The same loop still serves its other sockets.
            await peer2.SendAsync("y"u8.ToArray(), SocketFlags.None);
            Assert.Equal(1, await read.WaitAsync(Patience));
        }
        finally
        {
            EpollLoop.OnHandlerError = previous;
            failing.SetHandler(null);
            Close(failing);
            Close(neighbour);
        }
    }

    private sealed class ThrowingHandler : IEngineHandler
    {
        public void OnReady(EngineSocket socket, uint events) => throw new InvalidOperationException("handler bug");
    }

    [Fact]
    public async Task A_connect_cancelled_while_other_sockets_on_its_loop_run_disturbs_none_of_them()
    {
        using var blackHole = new BlackHole();
        var loop = TheEngine.NextLoop();
        var (peer, local) = await PairAsync();
        using var _ = peer;
        var neighbour = Attach(local, loop);
        try
        {
            var buffer = new byte[8];
            var read = neighbour.ReceiveAsync(buffer, CancellationToken.None).AsTask();
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => EngineSocket.ConnectAsync(socket, blackHole.EndPoint, loop, cts.Token).AsTask().WaitAsync(Patience));
            }
            finally
            {
                Dispose(socket);
            }

            Assert.False(read.IsCompleted);
            await peer.SendAsync("n"u8.ToArray(), SocketFlags.None);
            Assert.Equal(1, await read.WaitAsync(Patience));
        }
        finally
        {
            Close(neighbour);
        }
    }

    [Fact]
    public async Task Two_thousand_connections_opened_used_and_closed_at_once_leave_no_registration_and_no_descriptor()
    {
        const int Count = 2000;
        var before = Registered();
        var descriptors = OpenDescriptors();
        var targets = DescriptorTargets();

        // Half accepted ends put on the engine, half connected by it; each waits for a byte, answers it, and ends
        // in one of the ways a connection ends (a FIN, a reset from the peer, an abort from tpt's side).
        var tasks = Enumerable.Range(0, Count).Select(i => Task.Run(() => OneAsync(i))).ToArray();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(120));

        Assert.True(await EventuallyAsync(() => Registered() == before, TimeSpan.FromSeconds(10)), $"{Registered() - before} registrations left behind");
        Assert.True(await EventuallyAsync(() => OpenDescriptors() <= descriptors, TimeSpan.FromSeconds(10)), $"{OpenDescriptors() - descriptors} descriptors left open: {string.Join(", ", DescriptorTargets().Where(t => !targets.TryGetValue(t.Key, out var was) || was != t.Value).Select(t => $"{t.Key}->{t.Value}"))}");

        async Task OneAsync(int i)
        {
            // A listener each: concurrent accepts on one would hand out each other's connections.
            using var listener = Listen(1);
            Socket peer;
            EngineSocket socket;
            if (i % 2 == 0)
            {
                (peer, var local) = await PairAsync(listener);
                socket = Attach(local, TheEngine.NextLoop());
            }
            else
            {
                var accept = listener.AcceptAsync();
                var own = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                var (connected, error) = await EngineSocket.ConnectAsync(own, (IPEndPoint)listener.LocalEndPoint!, TheEngine.NextLoop(), CancellationToken.None);
                Assert.Equal(SocketError.Success, error);
                socket = connected!;
                peer = await accept;
            }

            using (peer)
            {
                try
                {
                    var buffer = new byte[4];
                    var read = socket.ReceiveAsync(buffer, CancellationToken.None);
                    await peer.SendAsync("q"u8.ToArray(), SocketFlags.None);
                    Assert.Equal(1, await read);
                    Assert.Equal(1, socket.TrySend("a"u8, out _));
                    Assert.Equal(1, await peer.ReceiveAsync(buffer, SocketFlags.None));
                    switch (i % 3)
                    {
                        case 0:
                            peer.Shutdown(SocketShutdown.Send);
                            Assert.Equal(0, await socket.ReceiveAsync(buffer, CancellationToken.None));
                            break;
                        case 1:
                            peer.LingerState = new LingerOption(true, 0);
                            peer.Close();
                            try
                            {
                                Assert.Equal(0, await socket.ReceiveAsync(buffer, CancellationToken.None));
                            }
                            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
                            {
                            }

                            break;
                        default:
                            var pending = socket.ReceiveAsync(buffer, CancellationToken.None);
                            socket.Abort();
                            Assert.Equal(0, await pending);
                            break;
                    }
                }
                finally
                {
                    Close(socket);
                }
            }
        }
    }

    /// <summary>
    /// A listener whose accept queue is full and never drained: the kernel drops further SYNs, so a connect to it
    /// neither succeeds nor fails for as long as a test runs (a loopback address that never answers).
    /// </summary>
    private sealed class BlackHole : IDisposable
    {
        private readonly Socket _listener;
        private readonly List<Socket> _fillers = [];

        public BlackHole()
        {
            _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(0);
            EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
            for (var i = 0; i < 16; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                _fillers.Add(filler);
                if (!filler.ConnectAsync(EndPoint).Wait(TimeSpan.FromMilliseconds(500)))
                {
                    return;
                }
            }

            throw new InvalidOperationException("the listener's accept queue did not fill");
        }

        public IPEndPoint EndPoint { get; }

        public void Dispose()
        {
            foreach (var filler in _fillers)
            {
                filler.Dispose();
            }

            _listener.Dispose();
        }
    }
}
