using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace TlsProxyTunnel.Engine.Linux;

/// <summary>Drives a socket from its loop's events once an operation has taken it over (the relay).</summary>
internal interface IEngineHandler
{
    /// <summary>Called on the loop's thread with the epoll event mask.</summary>
    void OnReady(EngineSocket socket, uint events);
}

/// <summary>
/// A socket driven by an <see cref="EpollLoop"/> instead of System.Net.Sockets: non-blocking, registered once, read
/// and written with plain system calls. The <see cref="System.Net.Sockets.Socket"/> still owns the descriptor (its
/// addresses, options and close), but never runs an asynchronous operation of its own on it, so the runtime keeps
/// no per-socket async state and its event thread never hears of it.
/// </summary>
/// <remarks>
/// Readiness is counted, not flagged: each event bumps a read and a write epoch, and an operation that found the
/// socket not ready waits for the epoch it saw to change. An event between the failed call and the wait is
/// therefore never lost, without a lock on the event path.
/// </remarks>
internal sealed class EngineSocket : IValueTaskSource
{
    private readonly SafeSocketHandle _handle;
    private int _readEpoch;
    private int _writeEpoch;
    private int _notReadyAt;
    private int _drainedAt;
    private bool _tookSinceNotReady;
    private IEngineHandler? _handler;
    private int _released;
    private volatile bool _aborted;
    private volatile bool _peerClosed;
    private volatile bool _errorSeen;
    private bool _connecting;

    // One wait at a time (a read or a connect), completed by the loop or cancelled by its token.
    private ManualResetValueTaskSourceCore<bool> _wait;
    private int _waiting;
    private bool _waitWrite;
    private int _waitEpoch;
    private CancellationTokenRegistration _cancel;

    private EngineSocket(Socket socket, EpollLoop loop)
    {
        Socket = socket;
        Loop = loop;
        _handle = socket.SafeHandle;
        Fd = (int)_handle.DangerousGetHandle();
    }

    public Socket Socket { get; }

    public EpollLoop Loop { get; }

    public int Fd { get; }

    /// <summary>Slot and generation in <see cref="Loop"/> (set by <see cref="EpollLoop.Register"/>).</summary>
    public ulong Token { get; set; }

    /// <summary>Cut from outside (<see cref="Abort"/>): whatever runs on it stops without passing anything on.</summary>
    public bool IsAborted => _aborted;

    /// <summary>
    /// The peer has ended its direction or the connection failed (EPOLLRDHUP, EPOLLHUP or EPOLLERR seen): a read
    /// that returned less than asked for must go on to the EOF or error, because no further event will say so.
    /// </summary>
    public bool PeerClosed => _peerClosed;

    /// <summary>
    /// Bytes may be waiting: a read event came after the last read that emptied the socket (one that returned
    /// less than asked for), or the peer has closed. False for a socket that has seen no read event at all.
    /// </summary>
    public bool MayHaveData => Volatile.Read(ref _readEpoch) != _drainedAt || _peerClosed;

    /// <summary>
    /// Makes <paramref name="socket"/> non-blocking and registers it with <paramref name="loop"/>; null (and the
    /// socket as it was) when the kernel refuses, so the caller stays on System.Net.Sockets.
    /// </summary>
    public static EngineSocket? TryAttach(Socket socket, EpollLoop loop)
    {
        var added = false;
        socket.SafeHandle.DangerousAddRef(ref added);
        var engine = new EngineSocket(socket, loop);
        if (LibC.Fcntl(engine.Fd, LibC.F_SETFL, LibC.O_NONBLOCK) != 0 || loop.Register(engine) != 0)
        {
            LibC.Fcntl(engine.Fd, LibC.F_SETFL, 0);
            socket.SafeHandle.DangerousRelease();
            return null;
        }

        return engine;
    }

    /// <summary>Called by the loop for each event on this socket.</summary>
    public void OnEvents(uint events)
    {
        if ((events & (LibC.EPOLLRDHUP | LibC.EPOLLHUP | LibC.EPOLLERR)) != 0)
        {
            _peerClosed = true;
            _errorSeen |= (events & (LibC.EPOLLHUP | LibC.EPOLLERR)) != 0;
        }

        if ((events & (LibC.EPOLLIN | LibC.EPOLLRDHUP | LibC.EPOLLHUP | LibC.EPOLLERR)) != 0)
        {
            Interlocked.Increment(ref _readEpoch);
        }

        if ((events & (LibC.EPOLLOUT | LibC.EPOLLHUP | LibC.EPOLLERR)) != 0)
        {
            Interlocked.Increment(ref _writeEpoch);
        }

        if (Volatile.Read(ref _handler) is { } handler)
        {
            handler.OnReady(this, events);
        }
        else
        {
            TryWake();
        }
    }

    /// <summary>Hands the socket's events to <paramref name="handler"/> (null: back to waits).</summary>
    public void SetHandler(IEngineHandler? handler) => Volatile.Write(ref _handler, handler);

    /// <summary>
    /// Receives into <paramref name="buffer"/>, waiting for data when there is none; an empty buffer waits for data
    /// without taking any (and holding no buffer meanwhile). 0 is the peer's FIN (or, for an empty buffer, data).
    /// </summary>
    /// <exception cref="SocketException">The receive failed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> fired while waiting.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken ct)
    {
        if (buffer.IsEmpty)
        {
            var seen = _notReadyAt;
            if (Volatile.Read(ref _readEpoch) != seen && _tookSinceNotReady && PeekNotReady(out var epoch))
            {
                // Readiness came since the last EAGAIN, but a read has taken bytes since, perhaps all of them.
                seen = epoch;
            }

            if (Volatile.Read(ref _readEpoch) == seen)
            {
                await WaitAsync(write: false, seen, ct);
            }

            return 0;
        }

        while (true)
        {
            var epoch = Volatile.Read(ref _readEpoch);
            var n = TryReceive(buffer.Span, out var errno);
            if (n >= 0)
            {
                _tookSinceNotReady = n > 0;
                if (n < buffer.Length)
                {
                    _drainedAt = epoch;
                }

                return n;
            }

            if (errno == LibC.EAGAIN)
            {
                _notReadyAt = epoch;
                _tookSinceNotReady = false;
                await WaitAsync(write: false, epoch, ct);
            }
            else if (errno != LibC.EINTR)
            {
                throw new SocketException((int)LibC.ToSocketError(errno));
            }
        }
    }

    /// <summary>
    /// True (and the read epoch before the call) when a peek finds nothing to read: only after a read took bytes,
    /// so that a zero-byte receive neither returns at once on an emptied socket nor costs a call on a fresh one.
    /// </summary>
    private unsafe bool PeekNotReady(out int epoch)
    {
        epoch = Volatile.Read(ref _readEpoch);
        byte one;
        if (LibC.Recv(Fd, &one, 1, LibC.MSG_PEEK) < 0 && Marshal.GetLastPInvokeError() == LibC.EAGAIN)
        {
            _notReadyAt = epoch;
            _tookSinceNotReady = false;
            return true;
        }

        return false;
    }

    /// <summary>One recv: bytes read, 0 at EOF, or -1 with <paramref name="errno"/>.</summary>
    public unsafe int TryReceive(Span<byte> buffer, out int errno)
    {
        fixed (byte* p = buffer)
        {
            var n = (int)LibC.Recv(Fd, p, (nuint)buffer.Length, 0);
            errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
            return n;
        }
    }

    /// <summary>One send: bytes taken, or -1 with <paramref name="errno"/>.</summary>
    public unsafe int TrySend(ReadOnlySpan<byte> data, out int errno)
    {
        fixed (byte* p = data)
        {
            var n = (int)LibC.Send(Fd, p, (nuint)data.Length, LibC.MSG_NOSIGNAL);
            errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
            return n;
        }
    }

    /// <summary>Ends this socket's sending direction (FIN); a failure means the peer is gone, which reads will tell.</summary>
    public void ShutdownSend() => LibC.Shutdown(Fd, LibC.SHUT_WR);

    /// <summary>
    /// Connects the (unconnected, blocking) <paramref name="socket"/> without System.Net.Sockets, then registers it:
    /// connect first, because a socket registered before it connects reports a hang-up at once.
    /// </summary>
    /// <returns>The registered socket, or null with the error (the socket is left for the caller to dispose).</returns>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<(EngineSocket? Socket, SocketError Error)> ConnectAsync(Socket socket, IPEndPoint endPoint, EpollLoop loop, CancellationToken ct)
    {
        if (StartConnect(socket, endPoint, loop, out var error) is not { } engine)
        {
            return (null, error);
        }

        try
        {
            await engine.WaitConnectedAsync(ct);
        }
        catch (OperationCanceledException)
        {
            engine.Release();
            throw;
        }

        if (engine.ConnectResult() is not SocketError.Success and var failed)
        {
            engine.Release();
            return (null, failed);
        }

        return (engine, SocketError.Success);
    }

    /// <summary>
    /// The first half of <see cref="ConnectAsync"/>, for a caller that awaits the rest in its own frame (no state
    /// machine of this method's per connection): starts the connect and registers the socket.
    /// </summary>
    /// <returns>The registered socket, connected or connecting (<see cref="WaitConnectedAsync"/>), or null with
    /// <paramref name="error"/> (the socket is left for the caller to dispose).</returns>
    public static EngineSocket? StartConnect(Socket socket, IPEndPoint endPoint, EpollLoop loop, out SocketError error)
    {
        var added = false;
        socket.SafeHandle.DangerousAddRef(ref added);
        var errno = StartConnect((int)socket.SafeHandle.DangerousGetHandle(), endPoint);
        if (errno != 0 && errno != LibC.EINPROGRESS)
        {
            socket.SafeHandle.DangerousRelease();
            error = LibC.ToSocketError(errno);
            return null;
        }

        var engine = new EngineSocket(socket, loop) { _connecting = errno == LibC.EINPROGRESS };
        if (loop.Register(engine) != 0)
        {
            socket.SafeHandle.DangerousRelease();
            error = SocketError.SocketError;
            return null;
        }

        error = SocketError.Success;
        return engine;
    }

    /// <summary>Waits (on this socket's own wait: nothing allocated) until a connect begun by <see cref="StartConnect"/> has an answer.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> fired first; the caller releases the socket.</exception>
    public ValueTask WaitConnectedAsync(CancellationToken ct) => _connecting ? WaitAsync(write: true, 0, ct) : ValueTask.CompletedTask;

    /// <summary>How the connect ended, once <see cref="WaitConnectedAsync"/> has completed.</summary>
    public SocketError ConnectResult()
    {
        // Writable without an error or hang-up is connected; only a failure needs SO_ERROR to say which.
        if (!_connecting || !_errorSeen)
        {
            return SocketError.Success;
        }

        return PendingError() is var errno and not 0 ? LibC.ToSocketError(errno) : SocketError.Success;
    }

    /// <summary>
    /// Cuts the connection from outside: set to reset when closed, and woken (its receive side shut, which the peer
    /// does not see) so that whatever runs on it ends now. The descriptor stays open until its owner closes it.
    /// </summary>
    public unsafe void Abort()
    {
        _aborted = true;
        if (!TryHoldHandle())
        {
            return;
        }

        try
        {
            var linger = stackalloc int[2] { 1, 0 };
            LibC.SetSockOpt(Fd, LibC.SOL_SOCKET, LibC.SO_LINGER, (byte*)linger, sizeof(int) * 2);
            LibC.Shutdown(Fd, 0);
        }
        finally
        {
            _handle.DangerousRelease();
        }
    }

    /// <summary>
    /// Closes the connection from outside without a reset: both directions shut (a FIN after whatever was queued),
    /// which whatever runs on it sees as the peer's end. The descriptor stays open until its owner closes it; safe
    /// to call after that.
    /// </summary>
    public void Shutdown()
    {
        if (!TryHoldHandle())
        {
            return;
        }

        try
        {
            LibC.Shutdown(Fd, LibC.SHUT_RDWR);
        }
        finally
        {
            _handle.DangerousRelease();
        }
    }

    /// <summary>
    /// Holds the handle open for a call from outside the owner's flow; false once the owner has closed it. Fd is
    /// only this socket's while its handle is open: a call that comes after the owner closed it (the drain's
    /// AbortAll, an idle sweep or a stalled-send check racing the connection's end) would otherwise reach whichever
    /// socket has since been given the same number.
    /// </summary>
    private bool TryHoldHandle()
    {
        var added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            return false;
        }

        return added;
    }

    /// <summary>Makes the eventual close send a reset rather than a FIN (one side of the relay failed).</summary>
    public unsafe void ResetOnClose()
    {
        var linger = stackalloc int[2] { 1, 0 };
        LibC.SetSockOpt(Fd, LibC.SOL_SOCKET, LibC.SO_LINGER, (byte*)linger, sizeof(int) * 2);
    }

    /// <summary>
    /// Leaves the loop: the registration is dropped and the descriptor may be closed by its owner. Safe to call
    /// more than once; nothing may be running on the socket.
    /// </summary>
    public void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return;
        }

        Loop.Unregister(this);
        _handle.DangerousRelease();
    }

    /// <summary>
    /// Leaves the loop, then closes the socket: the only safe order, since closing a socket whose handle the engine
    /// still holds waits (spinning) until the hold ends. Nothing may be running on it.
    /// </summary>
    public void Close()
    {
        Release();
        Socket.Dispose();
    }

    /// <summary>
    /// Hands the socket back to System.Net.Sockets: out of the epoll set (it lives on) and blocking again, as the
    /// runtime believes it is.
    /// </summary>
    public void Detach()
    {
        if (Volatile.Read(ref _released) != 0)
        {
            return;
        }

        Loop.Remove(Fd);
        LibC.Fcntl(Fd, LibC.F_SETFL, 0);
        Release();
    }

    private static unsafe int StartConnect(int fd, IPEndPoint endPoint)
    {
        Span<byte> address = stackalloc byte[28];
        var length = LibC.WriteSockAddr(endPoint, address);
        if (LibC.Fcntl(fd, LibC.F_SETFL, LibC.O_NONBLOCK) != 0)
        {
            return Marshal.GetLastPInvokeError();
        }

        fixed (byte* p = address)
        {
            while (true)
            {
                if (LibC.Connect(fd, p, length) == 0)
                {
                    return 0;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno != LibC.EINTR)
                {
                    return errno;
                }
            }
        }
    }

    private unsafe int PendingError()
    {
        int error = 0;
        var length = sizeof(int);
        return LibC.GetSockOpt(Fd, LibC.SOL_SOCKET, LibC.SO_ERROR, (byte*)&error, &length) == 0 ? error : Marshal.GetLastPInvokeError();
    }

    private ValueTask WaitAsync(bool write, int epoch, CancellationToken ct)
    {
        if ((write ? Volatile.Read(ref _writeEpoch) : Volatile.Read(ref _readEpoch)) != epoch)
        {
            return ValueTask.CompletedTask;
        }

        _wait.Reset();
        _waitWrite = write;
        _waitEpoch = epoch;
        Volatile.Write(ref _waiting, 1);
        if (ct.CanBeCanceled)
        {
            // Registered before the ValueTask is returned, so GetResult (which disposes it) always sees it.
            _cancel = ct.UnsafeRegister(static s => ((EngineSocket)s!).CancelWait(), this);
        }

        // An event that came between the check above and publishing the wait.
        TryWake();
        return new ValueTask(this, _wait.Version);
    }

    private void TryWake()
    {
        if (Volatile.Read(ref _waiting) == 0)
        {
            return;
        }

        var current = _waitWrite ? Volatile.Read(ref _writeEpoch) : Volatile.Read(ref _readEpoch);
        if (current != _waitEpoch && Interlocked.CompareExchange(ref _waiting, 0, 1) == 1)
        {
            _wait.SetResult(true);
        }
    }

    private void CancelWait()
    {
        if (Interlocked.CompareExchange(ref _waiting, 0, 1) == 1)
        {
            _wait.SetException(new OperationCanceledException());
        }
    }

    void IValueTaskSource.GetResult(short token)
    {
        try
        {
            _wait.GetResult(token);
        }
        finally
        {
            _cancel.Dispose();
            _cancel = default;

            // Drops the awaiting state machine, which would otherwise stay reachable from an idle socket.
            _wait.Reset();
        }
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _wait.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wait.OnCompleted(continuation, state, token, flags);
}
