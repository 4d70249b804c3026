using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Relay;

namespace TlsProxyTunnel.RelayServer;

/// <summary>
/// One <c>tls_relay</c> server's ports and pairs, in tx_tlsrelay's layout: every port bound at start and kept bound,
/// pairs handed to control sessions first in, first out, a freed pair put at the back. Public clients queue per
/// session and are paired with reverse connections strictly in arrival order.
/// </summary>
internal sealed partial class RelayHub : IDisposable
{
    /// <summary>What a data port whose pair has no control session answers, with no newline (the original's text).</summary>
    internal static readonly byte[] NoControllerLinked = "no controller linked"u8.ToArray();

    private const int BindAttempts = 200;

    private readonly string _server;
    private readonly RelaySettings _settings;
    private readonly RelayServerMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Queue<Pair> _free = new();
    private readonly Lock _gate = new();
    private Pair[] _pairs = [];
    private volatile bool _stopped;

    public RelayHub(string server, RelaySettings settings, RelayServerMetrics metrics, ILogger logger)
    {
        _server = server;
        _settings = settings;
        _metrics = metrics;
        _logger = logger;
    }

    public string Server => _server;

    public RelaySettings Settings => _settings;

    /// <summary>The bound control socket; accepted by <see cref="RelayService"/>.</summary>
    public Socket? Control { get; private set; }

    /// <summary>The control address as bound (port 0 resolved), for the access log and the Listening line.</summary>
    public ListenAddress ControlListen { get; private set; } = null!;

    public int FirstReversePort => _pairs[0].ReversePort;

    public int FirstPublicPort => _pairs[0].PublicPort;

    /// <summary>
    /// Binds the control port and every data port. With control port 0, looks for a block of port_count + 1 free
    /// ports: tries a random control port below the ephemeral range, then the ports above it, and starts over
    /// elsewhere if any is taken.
    /// </summary>
    /// <returns>Null when all are bound; otherwise why not (nothing stays bound).</returns>
    public string? Bind()
    {
        var control = _settings.Control.EndPoint;
        var dataAddress = _settings.Bind ?? control.Address;
        SocketException? last = null;
        for (var attempt = 0; attempt < (control.Port == 0 ? BindAttempts : 1); attempt++)
        {
            Socket controlSocket;
            try
            {
                controlSocket = ListenerService.Bind(control.Port == 0 ? new IPEndPoint(control.Address, CandidatePort()) : control);
            }
            catch (SocketException e)
            {
                if (control.Port == 0)
                {
                    last = e;
                    continue;
                }

                return $"cannot listen on {_settings.Control.Text}: {e.SocketErrorCode} (server {_server}, relay control port)";
            }

            var port = ((IPEndPoint)controlSocket.LocalEndPoint!).Port;

            var half = _settings.PairCount;
            var bound = new List<Socket>(_settings.PortCount);
            try
            {
                for (var i = 1; i <= _settings.PortCount; i++)
                {
                    bound.Add(ListenerService.Bind(new IPEndPoint(dataAddress, port + i)));
                }
            }
            catch (SocketException e)
            {
                last = e;
                foreach (var socket in bound)
                {
                    socket.Dispose();
                }

                controlSocket.Dispose();
                if (control.Port != 0)
                {
                    return $"cannot listen on relay data port {dataAddress}:{port + bound.Count + 1}: {e.SocketErrorCode} (server {_server}; ports {port + 1}-{port + _settings.PortCount} follow the control port)";
                }

                continue;
            }

            Control = controlSocket;
            var bound0 = (IPEndPoint)controlSocket.LocalEndPoint!;
            ControlListen = control.Port == 0 ? new ListenAddress(bound0, bound0.ToString()) : _settings.Control;
            _pairs = new Pair[half];
            for (var k = 0; k < half; k++)
            {
                _pairs[k] = new Pair(k, bound[k], bound[half + k]);
                _free.Enqueue(_pairs[k]);
            }

            return null;
        }

        return $"cannot find {_settings.PortCount + 1} free consecutive ports for relay server {_server} on {control.Address} in {BindAttempts} tries ({last?.SocketErrorCode.ToString() ?? "none free"})";
    }

    /// <summary>
    /// A control port for <c>listen: IP:0</c>, below the system's ephemeral range: the system's own port 0 picks are
    /// in that range, where the ports just above are those outgoing connections take, so a block is rarely free there.
    /// </summary>
    private int CandidatePort()
    {
        var ephemeralLow = 32768;
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            ephemeralLow = int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            // Not Linux, or hidden: the usual default.
        }

        var high = Math.Max(ephemeralLow, 20000) - _settings.PortCount - 1;
        return Random.Shared.Next(10000, Math.Max(high, 10001));
    }

    /// <summary>Starts accepting on every data port.</summary>
    public void Start()
    {
        foreach (var pair in _pairs)
        {
            _ = Task.Run(() => AcceptLoopAsync(pair, pair.PublicListener, isPublic: true), CancellationToken.None);
            _ = Task.Run(() => AcceptLoopAsync(pair, pair.ReverseListener, isPublic: false), CancellationToken.None);
        }
    }

    /// <summary>The oldest free pair, now the session's; null when none is free (the relay is full).</summary>
    public Pair? Link(ControlSession session)
    {
        lock (_gate)
        {
            if (_stopped || !_free.TryDequeue(out var pair))
            {
                _metrics.OnSession(linked: false);
                return null;
            }

            pair.Session = session;
            session.Pair = pair;
            _metrics.OnSession(linked: true);
            _metrics.OnPairLinked(1);
            return pair;
        }
    }

    /// <summary>The session has ended: every connection of its pair is closed and the pair goes to the back of the free list.</summary>
    public void Unlink(ControlSession session)
    {
        if (session.Pair is not { } pair)
        {
            return;
        }

        session.End();
        lock (_gate)
        {
            if (pair.Session == session)
            {
                pair.Session = null;
                _metrics.OnPairLinked(-1);
                if (!_stopped)
                {
                    _free.Enqueue(pair);
                }
            }
        }
    }

    public ControlSession NewSession(Action notify) => new(_settings, _metrics, notify);

    private async Task AcceptLoopAsync(Pair pair, Socket listener, bool isPublic)
    {
        while (!_stopped)
        {
            Socket accepted;
            try
            {
                accepted = await listener.AcceptAsync(CancellationToken.None);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                if (_stopped)
                {
                    return;
                }

                // EMFILE and friends pass; the port must stay served.
                RelayLog.AcceptFailed(_logger, _server, ((IPEndPoint)listener.LocalEndPoint!).Port, e.SocketErrorCode.ToString());
                await Task.Delay(100);
                continue;
            }

            // The original turns SO_KEEPALIVE on for every socket; a NATed server's dead peers are found the same way.
            accepted.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            if (isPublic)
            {
                OnPublic(pair, accepted);
            }
            else
            {
                OnReverse(pair, accepted);
            }
        }
    }

    private void OnPublic(Pair pair, Socket client)
    {
        if (pair.Session is not { } session)
        {
            _metrics.OnPublicNoController();
            RefuseNoController(client);
            return;
        }

        switch (session.Enqueue(client))
        {
            case EnqueueResult.Queued:
                break;
            case EnqueueResult.Full:
                _metrics.OnPublicPendingFull();
                client.Dispose();
                break;
            default:
                _metrics.OnPublicNoController();
                RefuseNoController(client);
                break;
        }
    }

    private void OnReverse(Pair pair, Socket reverse)
    {
        if (pair.Session is not { } session || !session.TryDequeue(reverse, out var pending))
        {
            var ended = pair.Session is null || pair.Session.IsEnded;
            _metrics.OnReverse(ended ? ReverseResult.NoController : ReverseResult.NoPending);
            if (ended)
            {
                RefuseNoController(reverse);
            }
            else
            {
                // Nothing pending: closed at once, with no notice to the server (the original's behaviour).
                reverse.Dispose();
            }

            return;
        }

        _ = SpliceAsync(session, pending!, reverse);
    }

    private async Task SpliceAsync(ControlSession session, PendingClient pending, Socket reverse)
    {
        var buffered = await pending.StopReadingAsync();
        try
        {
            if (!buffered.IsEmpty)
            {
                await DuplexRelay.SendAllAsync(reverse, buffered);
            }

            if (!pending.IsLive)
            {
                // The public client left before pairing: its entry still takes this reverse connection, which gets
                // its bytes and is closed, so the server's one-dial-per-new_connection accounting stays aligned.
                _metrics.OnReverse(ReverseResult.DeadEntry);
                reverse.Shutdown(SocketShutdown.Send);
                _metrics.OnBytes(buffered.Length, 0);
                return;
            }

            _metrics.OnReverse(ReverseResult.Paired);
            var counters = new RelayCounters();
            var client = pending.Socket;
            await DuplexRelay.RunAsync(client, reverse, counters, () =>
            {
                Reset(client);
                Reset(reverse);
            });
            _metrics.OnBytes(counters.FromClient + buffered.Length, counters.ToClient);
        }
        catch (Exception e) when (LegErrors.IsTransport(e))
        {
            // Either side went away while the buffered bytes were being flushed: both are closed below.
        }
        finally
        {
            pending.Dispose();
            session.Forget(pending.Socket);
            session.Forget(reverse);
            pending.Socket.Dispose();
            reverse.Dispose();
        }
    }

    /// <summary>Writes <c>no controller linked</c> (no newline) and closes, as the original does on a pair without a session.</summary>
    private static void RefuseNoController(Socket socket)
    {
        try
        {
            socket.Send(NoControllerLinked, SocketFlags.None);
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // Gone already.
        }

        socket.Dispose();
    }

    internal static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }

        socket.Dispose();
    }

    public void Dispose()
    {
        _stopped = true;
        Control?.Dispose();
        List<ControlSession> sessions = [];
        lock (_gate)
        {
            foreach (var pair in _pairs)
            {
                pair.ReverseListener.Dispose();
                pair.PublicListener.Dispose();
                if (pair.Session is { } session)
                {
                    sessions.Add(session);
                }
            }
        }

        foreach (var session in sessions)
        {
            session.End();
        }
    }

    /// <summary>Pair k: reverse port P+1+k, public port P+N/2+1+k.</summary>
    internal sealed class Pair(int index, Socket reverse, Socket @public)
    {
        public int Index { get; } = index;

        public Socket ReverseListener { get; } = reverse;

        public Socket PublicListener { get; } = @public;

        public int ReversePort { get; } = ((IPEndPoint)reverse.LocalEndPoint!).Port;

        public int PublicPort { get; } = ((IPEndPoint)@public.LocalEndPoint!).Port;

        public volatile ControlSession? Session;
    }

    internal enum EnqueueResult
    {
        Queued,
        Full,
        Ended,
    }

    /// <summary>
    /// One control session's side of its pair: the public clients waiting in arrival order, every open data
    /// connection (closed when the session ends), and the <c>new_connection</c> lines owed to the server.
    /// </summary>
    internal sealed class ControlSession(RelaySettings settings, RelayServerMetrics metrics, Action notify)
    {
        private readonly Queue<PendingClient> _pending = new();
        private readonly HashSet<Socket> _open = [];
        private readonly Lock _gate = new();
        private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Pair? Pair { get; set; }

        /// <summary>Completes when the session ends from the relay's side (shutdown), so its control connection is closed too.</summary>
        public Task Ended => _ended.Task;

        public bool IsEnded
        {
            get
            {
                lock (_gate)
                {
                    return _ended.Task.IsCompleted;
                }
            }
        }

        public EnqueueResult Enqueue(Socket client)
        {
            PendingClient pending;
            lock (_gate)
            {
                if (_ended.Task.IsCompleted)
                {
                    return EnqueueResult.Ended;
                }

                if (_pending.Count >= settings.MaxPending)
                {
                    return EnqueueResult.Full;
                }

                pending = new PendingClient(client, settings.MaxPendingBytes);
                _pending.Enqueue(pending);
                _open.Add(client);
                metrics.OnPublicQueued();
            }

            pending.StartReading();
            if (settings.PendingTimeout is { } timeout)
            {
                pending.ExpireAfter(timeout, () => Expire(pending));
            }

            // Queued before it is announced, so the reverse connection it brings always finds it.
            notify();
            return EnqueueResult.Queued;
        }

        public bool TryDequeue(Socket reverse, out PendingClient? pending)
        {
            lock (_gate)
            {
                if (_ended.Task.IsCompleted || !_pending.TryDequeue(out pending))
                {
                    pending = null;
                    return false;
                }

                pending.Paired = true;
                _open.Add(reverse);
                metrics.OnDequeued();
                return true;
            }
        }

        public void Forget(Socket socket)
        {
            lock (_gate)
            {
                _open.Remove(socket);
            }
        }

        /// <summary>Closes every public and reverse connection of the pair; pending entries go with them.</summary>
        public void End()
        {
            Socket[] open;
            PendingClient[] pending;
            lock (_gate)
            {
                if (!_ended.TrySetResult())
                {
                    return;
                }

                open = [.. _open];
                _open.Clear();
                pending = [.. _pending];
                _pending.Clear();
                metrics.OnDequeued(pending.Length);
            }

            foreach (var entry in pending)
            {
                entry.Abandon();
            }

            foreach (var socket in open)
            {
                // A plain close: what was already written is still flushed, then FIN.
                socket.Dispose();
            }
        }

        private void Expire(PendingClient pending)
        {
            lock (_gate)
            {
                if (pending.Paired || _ended.Task.IsCompleted)
                {
                    return;
                }

                // Left in the queue: its new_connection was sent, so a reverse connection will still come for it.
                _open.Remove(pending.Socket);
                pending.Expire();
            }

            metrics.OnPendingTimeout();
        }
    }

    /// <summary>
    /// A public client waiting for its reverse connection. What it sends meanwhile is read into one pooled buffer of
    /// at most max_pending_bytes; at the cap reading stops, so TCP flow control holds the client, not memory.
    /// </summary>
    internal sealed class PendingClient(Socket socket, int cap) : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private byte[]? _buffer;
        private int _length;
        private volatile bool _ended;
        private Task _reading = Task.CompletedTask;
        private Timer? _timer;

        public Socket Socket { get; } = socket;

        /// <summary>Set under the session's lock when a reverse connection took it.</summary>
        public bool Paired { get; set; }

        /// <summary>The client is still there (no EOF, error or pending timeout before pairing).</summary>
        public bool IsLive => !_ended;

        public void StartReading() => _reading = ReadAsync();

        public void ExpireAfter(TimeSpan timeout, Action expire) =>
            _timer = new Timer(static s => ((Action)s!)(), expire, timeout, Timeout.InfiniteTimeSpan);

        private async Task ReadAsync()
        {
            try
            {
                while (_length < cap)
                {
                    // Wait holding no buffer: a flood of idle clients costs sockets, not memory.
                    await Socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, _stop.Token);
                    _buffer ??= ArrayPool<byte>.Shared.Rent(cap);

                    // Only this synchronous read consumes bytes, so stopping at the await above never loses any.
                    var read = Socket.Receive(_buffer, _length, cap - _length, SocketFlags.None, out var error);
                    if (read == 0 || error != SocketError.Success)
                    {
                        _ended = true;
                        return;
                    }

                    _length += read;
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                if (e is not OperationCanceledException)
                {
                    _ended = true;
                }
            }
        }

        /// <summary>Stops reading and hands over what was read before pairing.</summary>
        public async ValueTask<ReadOnlyMemory<byte>> StopReadingAsync()
        {
            _timer?.Dispose();
            await _stop.CancelAsync();
            await _reading;
            return _buffer is null ? ReadOnlyMemory<byte>.Empty : _buffer.AsMemory(0, _length);
        }

        /// <summary>pending_timeout passed: the client is closed, its bytes are kept for the reverse connection that will come.</summary>
        public void Expire()
        {
            _ended = true;
            _stop.Cancel();
            Socket.Dispose();
        }

        /// <summary>The session ended before pairing.</summary>
        public void Abandon()
        {
            _timer?.Dispose();
            _ended = true;
            _stop.Cancel();
            Socket.Dispose();
            _ = _reading.ContinueWith(_ => Dispose(), TaskScheduler.Default);
        }

        public void ReturnBuffer()
        {
            if (Interlocked.Exchange(ref _buffer, null) is { } buffer)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        /// <summary>Once reading has stopped for good: the buffer goes back to the pool.</summary>
        public void Dispose()
        {
            _timer?.Dispose();
            _stop.Dispose();
            ReturnBuffer();
        }
    }
}
