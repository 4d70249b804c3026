using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace TlsProxyTunnel.Engine.Linux;

/// <summary>Work a loop runs on its own thread (<see cref="EpollLoop.Post"/>).</summary>
internal interface ILoopWork
{
    void RunOnLoop();
}

/// <summary>
/// One epoll instance and the thread that waits on it. Sockets are registered once, edge-triggered for reading,
/// writing and hang-up; each event goes to its <see cref="EngineSocket"/> on this thread, which wakes a waiting
/// operation or drives a relay there and then: readiness costs no system call of its own.
/// </summary>
/// <remarks>
/// An event carries a registration's slot and generation, never a pointer: an event that arrives for a socket
/// already released (its slot reused by another) is recognised by its generation and dropped.
/// </remarks>
internal sealed unsafe class EpollLoop : IDisposable
{
    private const int MaxEvents = 256;
    private const ulong WakeToken = ulong.MaxValue;

    private readonly int _epoll;
    private readonly int _wake;
    private readonly Thread _thread;
    private readonly Lock _slotsLock = new();
    private readonly Stack<int> _free = new();
    private readonly ConcurrentQueue<ILoopWork> _posted = new();
    private EngineSocket?[] _slots = new EngineSocket?[256];
    private uint _generation;
    private int _used;
    private int _wakePending;
    private volatile bool _stopping;

    private EpollLoop(int epoll, int wake, string name)
    {
        _epoll = epoll;
        _wake = wake;
        _thread = new Thread(Run) { IsBackground = true, Name = name };
    }

    /// <summary>The managed id of this loop's thread: work already on it runs inline instead of being posted.</summary>
    public int ThreadId { get; private set; }

    public bool IsOnLoop => Environment.CurrentManagedThreadId == ThreadId;

    /// <summary>Sockets registered now (for tests and diagnostics).</summary>
    public int Registered => Volatile.Read(ref _used) - _free.Count;

    public static EpollLoop? TryStart(string name, out string? error)
    {
        var epoll = LibC.EpollCreate1(LibC.EPOLL_CLOEXEC);
        if (epoll < 0)
        {
            error = $"epoll_create1 failed (errno {Marshal.GetLastPInvokeError()})";
            return null;
        }

        var wake = LibC.EventFd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
        if (wake < 0)
        {
            error = $"eventfd failed (errno {Marshal.GetLastPInvokeError()})";
            LibC.Close(epoll);
            return null;
        }

        var loop = new EpollLoop(epoll, wake, name);
        if (loop.Add(wake, LibC.EPOLLIN | LibC.EPOLLET, WakeToken) != 0)
        {
            error = $"epoll_ctl on the wake-up descriptor failed (errno {Marshal.GetLastPInvokeError()})";
            LibC.Close(wake);
            LibC.Close(epoll);
            return null;
        }

        using var started = new ManualResetEventSlim();
        loop._thread.Start(started);
        started.Wait();
        error = null;
        return loop;
    }

    /// <summary>Adds <paramref name="socket"/>'s descriptor to this loop; 0, or the errno of epoll_ctl.</summary>
    public int Register(EngineSocket socket)
    {
        int slot;
        lock (_slotsLock)
        {
            if (!_free.TryPop(out slot))
            {
                slot = _used++;
                if (slot == _slots.Length)
                {
                    var grown = new EngineSocket?[_slots.Length * 2];
                    Array.Copy(_slots, grown, _slots.Length);
                    Volatile.Write(ref _slots, grown);
                }
            }

            // Generations never repeat within 2^32 registrations of one slot, so a stale event cannot pass for a new one.
            socket.Token = ((ulong)++_generation << 32) | (uint)slot;
            _slots[slot] = socket;
        }

        if (Add(socket.Fd, LibC.EPOLLIN | LibC.EPOLLOUT | LibC.EPOLLRDHUP | LibC.EPOLLET, socket.Token) == 0)
        {
            return 0;
        }

        var errno = Marshal.GetLastPInvokeError();
        Unregister(socket);
        return errno;
    }

    /// <summary>
    /// Frees <paramref name="socket"/>'s slot. The descriptor stays in the epoll set until it is closed (closing
    /// removes it, and saves an epoll_ctl per socket); events until then no longer match a registration.
    /// </summary>
    public void Unregister(EngineSocket socket)
    {
        var slot = (int)(uint)socket.Token;
        lock (_slotsLock)
        {
            if (_slots[slot] == socket)
            {
                _slots[slot] = null;
                _free.Push(slot);
            }
        }
    }

    /// <summary>Removes <paramref name="fd"/> from the epoll set now: for a descriptor that lives on without this loop.</summary>
    public void Remove(int fd) => LibC.EpollCtl(_epoll, LibC.EPOLL_CTL_DEL, fd, null);

    /// <summary>Runs <paramref name="work"/> on this loop's thread.</summary>
    public void Post(ILoopWork work)
    {
        _posted.Enqueue(work);
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            Wake();
        }
    }

    public void Dispose()
    {
        _stopping = true;
        Wake();
        _thread.Join(TimeSpan.FromSeconds(5));
    }

    private void Wake()
    {
        ulong one = 1;
        LibC.Write(_wake, (byte*)&one, sizeof(ulong));
    }

    private int Add(int fd, uint events, ulong token)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(ulong*)(ev + LibC.EpollDataOffset) = token;
        return LibC.EpollCtl(_epoll, LibC.EPOLL_CTL_ADD, fd, ev);
    }

    private void Run(object? started)
    {
        ThreadId = Environment.CurrentManagedThreadId;
        ((ManualResetEventSlim)started!).Set();
        var size = LibC.EpollEventSize;
        var offset = LibC.EpollDataOffset;
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * size));
        try
        {
            while (!_stopping)
            {
                var count = LibC.EpollWait(_epoll, events, MaxEvents, -1);
                if (count < 0)
                {
                    // EINTR (a signal, a debugger); anything else would repeat, and the loop has nothing better to do.
                    continue;
                }

                var slots = Volatile.Read(ref _slots);
                for (var i = 0; i < count; i++)
                {
                    var e = events + (i * size);
                    var token = *(ulong*)(e + offset);
                    if (token == WakeToken)
                    {
                        RunPosted();
                        continue;
                    }

                    var slot = (int)(uint)token;
                    if (slot >= slots.Length)
                    {
                        slots = Volatile.Read(ref _slots);
                    }

                    if (slots[slot] is { } socket && socket.Token == token)
                    {
                        Dispatch(socket, *(uint*)e);
                    }
                }
            }
        }
        finally
        {
            NativeMemory.Free(events);
            LibC.Close(_wake);
            LibC.Close(_epoll);
        }
    }

    /// <summary>
    /// Called with any exception an event's handling let escape (a bug: the engine's own code returns outcomes),
    /// after the socket concerned was aborted. The loop goes on: one connection's failure must not stop the
    /// others this thread serves.
    /// </summary>
    public static Action<Exception>? OnHandlerError { get; set; }

    private static void Dispatch(EngineSocket socket, uint events)
    {
        try
        {
            socket.OnEvents(events);
        }
        catch (Exception e)
        {
            socket.Abort();
            OnHandlerError?.Invoke(e);
        }
    }

    private void RunPosted()
    {
        ulong value;
        LibC.Read(_wake, (byte*)&value, sizeof(ulong));
        Volatile.Write(ref _wakePending, 0);
        while (_posted.TryDequeue(out var work))
        {
            try
            {
                work.RunOnLoop();
            }
            catch (Exception e)
            {
                OnHandlerError?.Invoke(e);
            }
        }
    }
}
