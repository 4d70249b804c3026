using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace TlsProxyTunnel.Relay;

/// <summary>
/// Ends a relay whose send to one side has made no progress for <c>write_timeout</c>: that side has stopped
/// reading, and nothing else would ever free the connection (its peer may have closed long ago, with its FIN
/// queued behind bytes tpt cannot pass on, so tpt cannot even see that it has gone).
/// </summary>
/// <remarks>
/// <para>Progress is what the receiver's TCP acknowledges (tcp_info.tcpi_bytes_acked), so a slow reader that
/// keeps reading is never cut even when one 64 KiB send takes longer than the timeout. Where tcp_info cannot
/// be read, a send completing is the only progress seen.</para>
/// <para>Costs nothing while sends complete at once: the watch only starts a timer when a send stays pending,
/// allocates it once per connection, and the timer stops itself when no send is pending any more.</para>
/// </remarks>
internal sealed class SendStallWatch : IDisposable
{
    private readonly long _timeoutMs;
    private readonly long _periodMs;
    private readonly Action<object> _onStalled;
    private readonly object _state;

    // One per direction, inline rather than arrays: this object lives as long as its connection.
    private Slot _slot0;
    private Slot _slot1;

    private Timer? _timer;
    private int _armed;
    private int _fired;
    private int _disposed;

    public SendStallWatch(TimeSpan timeout, Action onStalled)
        : this(timeout, static s => ((Action)s)(), onStalled)
    {
    }

    /// <param name="onStalled">Called once with <paramref name="state"/>: a static lambda and its state cost no
    /// closure per connection.</param>
    public SendStallWatch(TimeSpan timeout, Action<object> onStalled, object state)
    {
        _timeoutMs = Math.Max(1, (long)timeout.TotalMilliseconds);
        _periodMs = Math.Clamp(_timeoutMs / 4, 20, 1000);
        _onStalled = onStalled;
        _state = state;
    }

    /// <summary>A send to <paramref name="target"/> in <paramref name="slot"/> (0 or 1) did not complete at once.</summary>
    public void SendPending(int slot, Socket target)
    {
        ref var state = ref At(slot);
        state.Target = target;
        Volatile.Write(ref state.PendingSince, Math.Max(1, Environment.TickCount64));

        // Interlocked is a full fence: the timer either sees this send pending or is armed again here.
        if (Interlocked.CompareExchange(ref _armed, 1, 0) == 0)
        {
            Arm();
        }
    }

    public void SendDone(int slot) => Volatile.Write(ref At(slot).PendingSince, 0);

    public void Dispose()
    {
        Volatile.Write(ref _disposed, 1);
        _timer?.Dispose();
    }

    private void Arm()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        if (_timer is null)
        {
            // Only the thread that set _armed gets here, so the timer is created once.
            _timer = new Timer(static s => ((SendStallWatch)s!).Check(), this, Timeout.Infinite, Timeout.Infinite);
        }

        try
        {
            _timer.Change(_periodMs, Timeout.Infinite);
        }
        catch (ObjectDisposedException)
        {
            // The relay ended meanwhile.
        }
    }

    private void Check()
    {
        Interlocked.Exchange(ref _armed, 0);
        if (Volatile.Read(ref _disposed) != 0 || Volatile.Read(ref _fired) != 0)
        {
            return;
        }

        var now = Environment.TickCount64;
        var anyPending = false;
        for (var slot = 0; slot < 2; slot++)
        {
            ref var state = ref At(slot);
            var since = Volatile.Read(ref state.PendingSince);
            if (since == 0)
            {
                continue;
            }

            anyPending = true;
            var acked = ReadBytesAcked(state.Target);
            if (since != state.SeenSince)
            {
                // A new pending send: progress is counted from its start.
                state.SeenSince = since;
                state.ProgressAt = since;
                state.Acked = acked;
            }
            else if (acked != state.Acked)
            {
                state.Acked = acked;
                state.ProgressAt = now;
            }

            if (now - state.ProgressAt >= _timeoutMs)
            {
                if (Interlocked.Exchange(ref _fired, 1) == 0)
                {
                    _onStalled(_state);
                }

                return;
            }
        }

        if (anyPending && Interlocked.CompareExchange(ref _armed, 1, 0) == 0)
        {
            Arm();
        }
    }

    private ref Slot At(int slot) => ref slot == 0 ? ref _slot0 : ref _slot1;

    /// <summary>tcp_info.tcpi_bytes_acked (Linux 4.1+), or -1 when it cannot be read.</summary>
    private static long ReadBytesAcked(Socket? socket)
    {
        const int IpProtoTcp = 6;
        const int TcpInfo = 11;
        const int BytesAckedOffset = 120;
        if (socket is null || !OperatingSystem.IsLinux())
        {
            return -1;
        }

        Span<byte> info = stackalloc byte[BytesAckedOffset + sizeof(long)];
        try
        {
            var length = socket.GetRawSocketOption(IpProtoTcp, TcpInfo, info);
            return length >= info.Length ? MemoryMarshal.Read<long>(info[BytesAckedOffset..]) : -1;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return -1;
        }
    }

    private struct Slot
    {
        public Socket? Target;

        /// <summary>Written by the pump: when its pending send started (0 when none is pending).</summary>
        public long PendingSince;

        // The rest belongs to the timer callback.
        public long SeenSince;
        public long ProgressAt;
        public long Acked;
    }
}
