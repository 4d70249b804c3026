using System.Runtime.InteropServices;

namespace TlsProxyTunnel.Engine.Linux;

/// <summary>
/// A pipe that carries one relay direction's bytes from socket to socket inside the kernel (splice): the pages a
/// peer sent are passed on by reference, never copied into the process and out again. Rented only while a
/// direction moves bulk data, from a small stack of idle pipes kept per loop thread (every relay call runs on its
/// loop's thread, so the stack needs no lock).
/// </summary>
internal readonly record struct SplicePipe(int Read, int Write)
{
    /// <summary>Idle pipes kept per loop; more are closed (two descriptors and, for an unprivileged user, a share of the per-user pipe quota each).</summary>
    private const int KeptPerLoop = 16;

    /// <summary>What one splice moves at most (the pipe's capacity, asked for at creation).</summary>
    public const int Capacity = 1024 * 1024;

    [ThreadStatic]
    private static Stack<SplicePipe>? t_idle;

    private static long _open;
    private static long _inUse;
    private static long _moved;

    /// <summary>Pipes a relay direction holds now (the rest of <see cref="Open"/> are idle).</summary>
    public static long InUse => Interlocked.Read(ref _inUse);

    /// <summary>Pipes open now, in use or idle (two descriptors each: admission counts them).</summary>
    public static long Open => Interlocked.Read(ref _open);

    /// <summary>
    /// At most this many pipes open at once (a direction beyond it copies): set from the descriptor limit, so that
    /// pipes never take more than a quarter of it, whatever admission has let in.
    /// </summary>
    public static long MaxOpen { get; set; } = 1024;

    /// <summary>Bytes relays have passed on through pipes since start (<c>tpt_engine_spliced_bytes_total</c>).</summary>
    public static long Moved => Interlocked.Read(ref _moved);

    /// <summary>Whether relays splice at all: off with <c>TPT_SPLICE=0</c> (a kernel or sandbox that refuses splice on sockets).</summary>
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("TPT_SPLICE") != "0";

    /// <summary>An empty pipe; false when none can be made (descriptors exhausted), and the direction copies instead.</summary>
    /// <remarks>A failure is retried at the next bulk read, so a direction that could not have one keeps copying
    /// and tries again later, when pipes may have been freed.</remarks>
    public static unsafe bool TryRent(out SplicePipe pipe)
    {
        if (t_idle is { Count: > 0 } idle)
        {
            pipe = idle.Pop();
            Interlocked.Increment(ref _inUse);
            return true;
        }

        pipe = default;
        if (Open >= MaxOpen)
        {
            return false;
        }

        var fds = stackalloc int[2];
        if (LibC.Pipe2(fds, LibC.O_NONBLOCK | LibC.O_CLOEXEC) != 0)
        {
            return false;
        }

        // Larger than the default 64 KiB, so one splice pair moves more per call; a pipe pins pages only while
        // bytes are in it. Refused above pipe-max-size, or once an unprivileged user's pipes pass
        // fs.pipe-user-pages-soft, when the kernel also shrinks new pipes to two pages: splicing through those would
        // cost more than copying, so the direction copies.
        if (LibC.Fcntl(fds[1], LibC.F_SETPIPE_SZ, Capacity) < Capacity)
        {
            LibC.Close(fds[0]);
            LibC.Close(fds[1]);
            return false;
        }

        Interlocked.Increment(ref _open);
        Interlocked.Increment(ref _inUse);
        pipe = new SplicePipe(fds[0], fds[1]);
        return true;
    }

    /// <summary>Gives back a pipe that holds no bytes; one that still does is closed, dropping them.</summary>
    public void Return(bool empty)
    {
        Interlocked.Decrement(ref _inUse);
        var idle = t_idle ??= new Stack<SplicePipe>();
        if (empty && idle.Count < KeptPerLoop)
        {
            idle.Push(this);
            return;
        }

        LibC.Close(Read);
        LibC.Close(Write);
        Interlocked.Decrement(ref _open);
    }

    /// <summary>Moves up to <paramref name="length"/> bytes from socket <paramref name="fd"/> into the pipe: bytes moved, 0 at EOF, or -1 with <paramref name="errno"/>.</summary>
    public unsafe int FillFrom(int fd, int length, out int errno) => Move(fd, Write, length, out errno);

    /// <summary>Moves up to <paramref name="length"/> bytes from the pipe to socket <paramref name="fd"/>: bytes moved, or -1 with <paramref name="errno"/>.</summary>
    public unsafe int DrainTo(int fd, int length, out int errno)
    {
        var n = Move(Read, fd, length, out errno);
        if (n > 0)
        {
            Interlocked.Add(ref _moved, n);
        }

        return n;
    }

    private static unsafe int Move(int from, int to, int length, out int errno)
    {
        var n = (int)LibC.Splice(from, null, to, null, (nuint)length, LibC.SPLICE_F_MOVE | LibC.SPLICE_F_NONBLOCK);
        errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
        return n;
    }
}
