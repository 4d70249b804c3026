using System.Buffers;
using System.Threading.Tasks.Sources;
using TlsProxyTunnel.Relay;
using static TlsProxyTunnel.Relay.DuplexRelay;

namespace TlsProxyTunnel.Engine.Linux;

/// <summary>
/// The relay on the Linux engine: both directions driven by the loop's events on its own thread, as one object per
/// connection with no task, async state or pending operation per direction. The rules are the socket relay's
/// (<see cref="DuplexRelay"/>): a FIN is passed on as a shutdown of the other side's sending direction, an error
/// ends both, a send that stops progressing is watched (write_timeout), and a direction holds a buffer only while
/// bytes are in flight.
/// </summary>
internal sealed class EpollRelay : IEngineHandler, ILoopWork, IValueTaskSource<RelayResult>
{
    private readonly EngineSocket _client;
    private readonly EngineSocket _upstream;
    private readonly RelayCounters _counters;
    private readonly TimeSpan? _writeTimeout;
    private readonly Action<object>? _onStalled;
    private readonly object? _stalledState;
    private SendStallWatch? _stall;
    private Direction _up;
    private Direction _down;
    private ManualResetValueTaskSourceCore<RelayResult> _done;
    private bool _finished;
    private bool _started;

    private EpollRelay(EngineSocket client, EngineSocket upstream, RelayCounters counters, TimeSpan? writeTimeout, Action<object>? onStalled, object? stalledState)
    {
        _client = client;
        _upstream = upstream;
        _counters = counters;
        _writeTimeout = writeTimeout;
        _onStalled = onStalled;
        _stalledState = stalledState;
        _up.Slot = 0;
        _down.Slot = 1;
    }

    /// <summary>
    /// Relays until both directions have ended. <paramref name="initial"/> (a pooled buffer, owned by the relay from
    /// here on) holds <paramref name="initialLength"/> bytes the client sent before, sent to the upstream first.
    /// </summary>
    /// <param name="writeTimeout">write_timeout: a send that makes no progress for this long calls
    /// <paramref name="onStalled"/> with <paramref name="stalledState"/> (which should abort the connection); the
    /// watch is made only when a send first has to wait, so a connection whose sends complete pays nothing.</param>
    public static ValueTask<RelayResult> RunAsync(EngineSocket client, EngineSocket upstream, RelayCounters counters, TimeSpan? writeTimeout = null, Action<object>? onStalled = null, object? stalledState = null, byte[]? initial = null, int initialLength = 0)
    {
        var relay = new EpollRelay(client, upstream, counters, writeTimeout, onStalled, stalledState);
        if (initial is not null && initialLength > 0)
        {
            relay._up.Buffer = initial;
            relay._up.Count = initialLength;
        }
        else if (initial is not null)
        {
            ArrayPool<byte>.Shared.Return(initial);
        }

        // Sockets take new connections' sends at once; whether there is anything to read is decided on the loop's
        // thread (Run), where no event can slip between the check and the handler taking over.
        relay._up.CanWrite = relay._down.CanWrite = true;
        client.SetHandler(relay);
        upstream.SetHandler(relay);
        if (client.Loop.IsOnLoop)
        {
            relay.Run();
        }
        else
        {
            client.Loop.Post(relay);
        }

        return new ValueTask<RelayResult>(relay, relay._done.Version);
    }

    public void RunOnLoop() => Run();

    public void OnReady(EngineSocket socket, uint events)
    {
        var readable = (events & (LibC.EPOLLIN | LibC.EPOLLRDHUP | LibC.EPOLLHUP | LibC.EPOLLERR)) != 0;
        var writable = (events & (LibC.EPOLLOUT | LibC.EPOLLHUP | LibC.EPOLLERR)) != 0;
        if (socket == _client)
        {
            _up.CanRead |= readable;
            _down.CanWrite |= writable;
        }
        else
        {
            _down.CanRead |= readable;
            _up.CanWrite |= writable;
        }

        Run();
    }

    private void Run()
    {
        if (_finished)
        {
            return;
        }

        if (!_started)
        {
            // Read only what may be there: the hello read left the client drained unless an event came since, and a
            // fresh upstream has sent something only if an event said so. Saves a recv that would say EAGAIN.
            _started = true;
            _up.CanRead |= _client.MayHaveData;
            _down.CanRead |= _upstream.MayHaveData;
        }

        Pump(ref _up, _client, _upstream);
        if (_up.Result is null or PumpResult.Eof)
        {
            // Not after a failure: the send that failed took the socket's error, so a read there now returns 0,
            // and the FIN that would pass on would tell the client its stream ended cleanly before the reset.
            Pump(ref _down, _upstream, _client);
        }

        var failed = _up.Result is not (null or PumpResult.Eof) || _down.Result is not (null or PumpResult.Eof);
        if (failed || (_up.Result is not null && _down.Result is not null))
        {
            Finish(failed);
        }
    }

    private void Pump(ref Direction d, EngineSocket from, EngineSocket to)
    {
        while (d.Result is null)
        {
            if (from.IsAborted || to.IsAborted)
            {
                d.Result = PumpResult.Aborted;
                return;
            }

            if (d.Count > 0)
            {
                if (!d.CanWrite)
                {
                    return;
                }

                int errno;
                var sent = d.Piped ? d.Pipe.DrainTo(to.Fd, d.Count, out errno) : to.TrySend(d.Buffer.AsSpan(d.Offset, d.Count), out errno);
                if (sent > 0)
                {
                    d.Offset += d.Piped ? 0 : sent;
                    d.Count -= sent;
                    Count(d.Slot, sent);
                    if (d.Count == 0)
                    {
                        d.Offset = 0;
                        if (d.Stalled)
                        {
                            d.Stalled = false;
                            _stall!.SendDone(d.Slot);
                        }
                    }

                    continue;
                }

                if (errno == LibC.EAGAIN)
                {
                    d.CanWrite = false;
                    if (_writeTimeout is { } timeout && !d.Stalled)
                    {
                        // The receiver's window is full: only now is the send worth watching.
                        d.Stalled = true;
                        _stall ??= new SendStallWatch(timeout, _onStalled!, _stalledState!);
                        _stall.SendPending(d.Slot, to.Socket);
                    }

                    return;
                }

                if (errno != LibC.EINTR)
                {
                    d.Result = PumpResult.WriteFailed;
                }

                continue;
            }

            if (d.ReadEof)
            {
                // Passed on even when the other direction has ended too: the relay does not count on its caller
                // closing the sockets at once to deliver the last FIN.
                to.ShutdownSend();

                d.Result = PumpResult.Eof;
                return;
            }

            if (!d.CanRead)
            {
                // Nothing more for now: an idle direction holds no buffer.
                ReturnBuffer(ref d);
                return;
            }

            if (d.Bulk && !d.Piped)
            {
                // The last read filled the whole buffer: a bulk transfer, whose bytes from now on go socket to socket
                // through a pipe (no copy into the process and out). Small exchanges never get here.
                ReturnBuffer(ref d);
                d.Piped = SplicePipe.TryRent(out d.Pipe);
            }

            int read;
            int readErrno;
            if (d.Piped)
            {
                // No "drained" guess from a short splice: it also stops early when the pipe's slots are used up by
                // small segments, so it goes on until EAGAIN.
                read = d.Pipe.FillFrom(from.Fd, SplicePipe.Capacity, out readErrno);
                if (read > 0)
                {
                    d.Count = read;
                    continue;
                }

                if (read < 0 && readErrno == LibC.EINVAL)
                {
                    // A socket the kernel cannot splice from: this direction copies from here on.
                    ReturnBuffer(ref d);
                    d.Unspliceable = true;
                    continue;
                }
            }
            else
            {
                d.Buffer ??= ArrayPool<byte>.Shared.Rent(BufferSize);
                read = from.TryReceive(d.Buffer, out readErrno);
                if (read > 0)
                {
                    d.Count = read;
                    d.Bulk = read == d.Buffer.Length && SplicePipe.Enabled && !d.Unspliceable;

                    // Less than asked for: the socket is drained (edge-triggered: data arriving from now on brings a
                    // new event), so the recv that would only say EAGAIN is saved, unless the peer has closed, which
                    // no further event would announce.
                    if (read < d.Buffer.Length && !from.PeerClosed)
                    {
                        d.CanRead = false;
                    }

                    continue;
                }
            }

            if (read == 0)
            {
                d.ReadEof = true;
                ReturnBuffer(ref d);
                continue;
            }

            if (readErrno == LibC.EAGAIN)
            {
                d.CanRead = false;
                continue;
            }

            if (readErrno != LibC.EINTR)
            {
                d.Result = PumpResult.ReadFailed;
            }
        }
    }

    private void Count(int slot, int bytes)
    {
        if (slot == 0)
        {
            _counters.AddFromClient(bytes);
        }
        else
        {
            _counters.AddToClient(bytes);
        }
    }

    private void Finish(bool failed)
    {
        _finished = true;
        if (failed)
        {
            // As the socket relay's cut: both peers learn of the failure by a reset, not a clean close.
            _client.ResetOnClose();
            _upstream.ResetOnClose();
        }

        _client.SetHandler(null);
        _upstream.SetHandler(null);
        _stall?.Dispose();
        ReturnBuffer(ref _up);
        ReturnBuffer(ref _down);
        _done.SetResult(Blame(_up.Result ?? PumpResult.Aborted, _down.Result ?? PumpResult.Aborted));
    }

    /// <summary>Gives back the direction's buffer or pipe (with whatever it still held: only at the end) and leaves bulk mode.</summary>
    private static void ReturnBuffer(ref Direction d)
    {
        if (d.Buffer is { } buffer)
        {
            d.Buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }

        if (d.Piped)
        {
            d.Piped = false;
            d.Pipe.Return(empty: d.Count == 0);
            d.Pipe = default;
        }

        d.Count = 0;
        d.Offset = 0;
        d.Bulk = false;
    }

    RelayResult IValueTaskSource<RelayResult>.GetResult(short token) => _done.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<RelayResult>.GetStatus(short token) => _done.GetStatus(token);

    void IValueTaskSource<RelayResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _done.OnCompleted(continuation, state, token, flags);

    private struct Direction
    {
        public byte[]? Buffer;
        public SplicePipe Pipe;

        /// <summary>Bytes move through <see cref="Pipe"/> (splice), not <see cref="Buffer"/>.</summary>
        public bool Piped;

        /// <summary>The last read filled the buffer: the next goes through a pipe.</summary>
        public bool Bulk;

        /// <summary>splice refused this direction's socket (EINVAL): it only copies.</summary>
        public bool Unspliceable;
        public int Offset;
        public int Count;
        public int Slot;
        public bool CanRead;
        public bool CanWrite;
        public bool ReadEof;
        public bool Stalled;
        public PumpResult? Result;
    }
}
