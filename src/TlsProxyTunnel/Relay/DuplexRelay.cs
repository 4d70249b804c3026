using System.Buffers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace TlsProxyTunnel.Relay;

/// <summary>Which side of a relay failed, if any.</summary>
internal enum RelayResult
{
    /// <summary>Both directions reached EOF and passed it on.</summary>
    Completed,
    ClientFailed,
    UpstreamFailed,

    /// <summary>Ended from outside (idle timeout, write timeout, shutdown).</summary>
    Aborted,
}

/// <summary>
/// Copies bytes both ways until both directions have ended. A FIN on one side becomes a shutdown of the
/// other side's send direction; an error on either side ends both; a send that makes no progress for
/// write_timeout ends both (<see cref="SendStallWatch"/>).
/// </summary>
internal static class DuplexRelay
{
    // Measured on loopback: larger buffers cut syscalls per GB; 64 KiB is YARP's figure too.
    internal const int BufferSize = 64 * 1024;

    /// <param name="cutBoth">Resets both sockets once one side has failed; it must not record an outcome of its own,
    /// because the failing side's is the one reported.</param>
    /// <param name="stall">Watches sends that stay pending; null when write_timeout is off.</param>
    public static Task<RelayResult> RunAsync(Socket client, Socket upstream, RelayCounters counters, Action cutBoth, SendStallWatch? stall = null) =>
        RunAsync(client, upstream, counters, static cut => cut(), cutBoth, stall);

    /// <summary>The socket relay with the cut as a static callback and its state: no closure per connection.</summary>
    public static Task<RelayResult> RunAsync<TState>(Socket client, Socket upstream, RelayCounters counters, Action<TState> cutBoth, TState state, SendStallWatch? stall = null) =>
        JoinAsync(
            PumpAsync(client, upstream, counters, PumpDirection.ToUpstream, stall),
            PumpAsync(upstream, client, counters, PumpDirection.ToClient, stall),
            cutBoth,
            state);

    /// <summary>
    /// The same relay between legs: when both are plain sockets it is exactly the socket relay above (the fast
    /// path: no stream in between); when either speaks TLS, bytes go through the legs' streams.
    /// </summary>
    public static Task<RelayResult> RunAsync(IConnectionLeg client, IConnectionLeg upstream, RelayCounters counters, Action cutBoth, SendStallWatch? stall = null) =>
        RunAsync(client, upstream, counters, static cut => cut(), cutBoth, stall);

    /// <summary>The relay between legs with the cut as a static callback and its state: no closure per connection.</summary>
    public static Task<RelayResult> RunAsync<TState>(IConnectionLeg client, IConnectionLeg upstream, RelayCounters counters, Action<TState> cutBoth, TState state, SendStallWatch? stall = null)
    {
        if (client is SocketLeg && upstream is SocketLeg)
        {
            return RunAsync(client.Socket, upstream.Socket, counters, cutBoth, state, stall);
        }

        return JoinAsync(
            PumpAsync(client, upstream, counters, PumpDirection.ToUpstream, stall),
            PumpAsync(upstream, client, counters, PumpDirection.ToClient, stall),
            cutBoth,
            state);
    }

    private static async Task<RelayResult> JoinAsync<TState>(Task<PumpResult> up, Task<PumpResult> down, Action<TState> cutBoth, TState state)
    {
        // Whichever fails first decides the blame; the other is cut so it does not linger half-dead.
        var first = await Task.WhenAny(up, down);
        if (first.Result != PumpResult.Eof)
        {
            cutBoth(state);
        }

        var upResult = await up;
        var downResult = await down;
        return Blame(upResult, downResult);
    }

    internal static RelayResult Blame(PumpResult up, PumpResult down)
    {
        if (up == PumpResult.Eof && down == PumpResult.Eof)
        {
            return RelayResult.Completed;
        }

        if (up == PumpResult.ReadFailed || down == PumpResult.WriteFailed)
        {
            return RelayResult.ClientFailed;
        }

        if (down == PumpResult.ReadFailed || up == PumpResult.WriteFailed)
        {
            return RelayResult.UpstreamFailed;
        }

        return RelayResult.Aborted;
    }

    /// <summary>
    /// Counts what one read passed on, and gives the buffer back after a read that did not fill it: the next
    /// zero-byte read then waits holding nothing, so an idle direction keeps no buffer.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Passed(PumpDirection direction, int read, RelayCounters counters, ref byte[]? buffer)
    {
        if (direction != PumpDirection.ToClient)
        {
            counters.AddFromClient(read);
        }

        if (direction != PumpDirection.ToUpstream)
        {
            counters.AddToClient(read);
        }

        if (read < buffer!.Length)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = null;
        }
    }

    internal enum PumpDirection
    {
        ToUpstream,
        ToClient,

        /// <summary>From the client back to the client: counted both ways.</summary>
        Echo,
    }

    internal enum PumpResult
    {
        Eof,
        ReadFailed,
        WriteFailed,
        Aborted,
    }

    /// <summary>
    /// One direction. Idle sockets hold no buffer: a zero-byte receive waits for data, and the buffer is rented
    /// only while data flows (kept across reads that fill it, because more is then almost surely queued).
    /// </summary>
    internal static async Task<PumpResult> PumpAsync(Socket from, Socket to, RelayCounters counters, PumpDirection direction, SendStallWatch? stall = null)
    {
        var slot = direction == PumpDirection.ToClient ? 1 : 0;
        byte[]? buffer = null;
        try
        {
            while (true)
            {
                int read;
                try
                {
                    if (buffer is null)
                    {
                        await from.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                        buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                    }

                    read = await from.ReceiveAsync(buffer.AsMemory(), SocketFlags.None);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.OperationAborted)
                {
                    return PumpResult.Aborted;
                }
                catch (SocketException)
                {
                    return PumpResult.ReadFailed;
                }
                catch (ObjectDisposedException)
                {
                    return PumpResult.Aborted;
                }

                if (read == 0)
                {
                    try
                    {
                        to.Shutdown(SocketShutdown.Send);
                    }
                    catch (SocketException)
                    {
                        // The other side is already gone; its own pump reports that.
                    }
                    catch (ObjectDisposedException)
                    {
                        return PumpResult.Aborted;
                    }

                    return PumpResult.Eof;
                }

                try
                {
                    await SendAllAsync(to, buffer.AsMemory(0, read), stall, slot);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.OperationAborted)
                {
                    return PumpResult.Aborted;
                }
                catch (SocketException)
                {
                    return PumpResult.WriteFailed;
                }
                catch (ObjectDisposedException)
                {
                    return PumpResult.Aborted;
                }

                Passed(direction, read, counters, ref buffer);
            }
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// One direction between legs, with the same rules as the socket pump: a zero-byte read first (SslStream
    /// then waits without renting its record buffer), EOF (close_notify or FIN) passed on as close_notify + FIN.
    /// </summary>
    internal static async Task<PumpResult> PumpAsync(IConnectionLeg from, IConnectionLeg to, RelayCounters counters, PumpDirection direction, SendStallWatch? stall = null)
    {
        var slot = direction == PumpDirection.ToClient ? 1 : 0;
        byte[]? buffer = null;
        try
        {
            while (true)
            {
                int read;
                try
                {
                    if (buffer is null)
                    {
                        await from.ReadAsync(Memory<byte>.Empty);
                        buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                    }

                    read = await from.ReadAsync(buffer.AsMemory());
                }
                catch (Exception e) when (LegErrors.IsTransport(e))
                {
                    if (LegErrors.IsAborted(e))
                    {
                        return PumpResult.Aborted;
                    }

                    from.NoteReadFailure(e);
                    return PumpResult.ReadFailed;
                }

                if (read == 0)
                {
                    try
                    {
                        await to.ShutdownSendAsync();
                    }
                    catch (Exception e) when (LegErrors.IsTransport(e))
                    {
                        // The other side is already gone; its own pump reports that.
                        if (LegErrors.IsAborted(e))
                        {
                            return PumpResult.Aborted;
                        }
                    }

                    return PumpResult.Eof;
                }

                try
                {
                    await to.WriteAsync(buffer.AsMemory(0, read), stall, slot);
                }
                catch (Exception e) when (LegErrors.IsTransport(e))
                {
                    return LegErrors.IsAborted(e) ? PumpResult.Aborted : PumpResult.WriteFailed;
                }

                Passed(direction, read, counters, ref buffer);
            }
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    public static async ValueTask SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, SendStallWatch? stall = null, int slot = 0)
    {
        while (!data.IsEmpty)
        {
            var pending = socket.SendAsync(data, SocketFlags.None);
            int sent;
            if (pending.IsCompleted || stall is null)
            {
                sent = await pending;
            }
            else
            {
                // The receiver's window is full: only now is the send worth watching.
                stall.SendPending(slot, socket);
                try
                {
                    sent = await pending;
                }
                finally
                {
                    stall.SendDone(slot);
                }
            }

            data = data[sent..];
        }
    }
}
