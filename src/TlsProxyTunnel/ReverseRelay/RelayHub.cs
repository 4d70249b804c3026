using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Engine.Linux;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Relay;

namespace TlsProxyTunnel.ReverseRelay;

/// <summary>
/// One <c>tls_relay</c> server's ports and pairs, in tx_tlsrelay's layout: every port bound at start and kept bound,
/// pairs handed to control sessions first in, first out, a freed pair put at the back. Public clients queue per
/// session and are paired with reverse connections strictly in arrival order.
/// </summary>
internal sealed class RelayHub : IDisposable
{
    /// <summary>What a data port whose pair has no control session answers, with no newline (the original's text).</summary>
    internal static readonly byte[] NoControllerLinked = "no controller linked"u8.ToArray();

    private const int BindAttempts = 200;

    private readonly string _server;
    private readonly RelaySettings _settings;
    private readonly RelayServerMetrics _metrics;
    private readonly ILogger _logger;
    private readonly LinuxEngine? _engine;
    private readonly Queue<RelayPair> _free = new();
    private readonly Lock _gate = new();
    private RelayPair[] _pairs = [];
    private volatile bool _stopped;

    /// <param name="engine">The Linux engine, which then relays the pairs (each public client goes on a loop at
    /// accept, its reverse connection joins it there); null for System.Net.Sockets.</param>
    public RelayHub(string server, RelaySettings settings, RelayServerMetrics metrics, ILogger logger, LinuxEngine? engine = null)
    {
        _server = server;
        _settings = settings;
        _metrics = metrics;
        _logger = logger;
        _engine = engine;
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
                controlSocket = ListenerBinder.Bind(control.Port == 0 ? new IPEndPoint(control.Address, CandidatePort()) : control);
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
                    bound.Add(ListenerBinder.Bind(new IPEndPoint(dataAddress, port + i)));
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
            _pairs = new RelayPair[half];
            for (var k = 0; k < half; k++)
            {
                _pairs[k] = new RelayPair(k, bound[k], bound[half + k]);
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
    public RelayPair? Link(RelaySession session)
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
    public void Unlink(RelaySession session)
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

    public RelaySession NewSession(Action notify) => new(_settings, _metrics, notify);

    private async Task AcceptLoopAsync(RelayPair pair, Socket listener, bool isPublic)
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
            if (!KeepAlive(accepted))
            {
                continue;
            }

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

    private void OnPublic(RelayPair pair, Socket client)
    {
        if (pair.Session is not { } session)
        {
            _metrics.OnPublicNoController();
            RefuseNoController(client);
            return;
        }

        var engine = _engine is null ? null : EngineSocket.TryAttach(client, _engine.NextLoop());
        var result = session.Enqueue(client, engine);
        if (result != EnqueueResult.Queued && engine is not null)
        {
            engine.Detach();
        }

        switch (result)
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

    private void OnReverse(RelayPair pair, Socket reverse)
    {
        if (pair.Session is not { } session || !session.TryDequeue(reverse, out var pending, out var reverseEngine))
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

        _ = SpliceAsync(session, pending!, reverse, reverseEngine);
    }

    private async Task SpliceAsync(RelaySession session, PendingClient pending, Socket reverse, EngineSocket? reverseEngine)
    {
        var buffered = await pending.StopReadingAsync();
        if (pending.IsLive && pending.Engine is { } clientEngine && reverseEngine is not null)
        {
            await SpliceOnEngineAsync(session, pending, clientEngine, reverseEngine);
            return;
        }

        // Otherwise the pair is relayed by System.Net.Sockets.
        if (reverseEngine is not null)
        {
            reverseEngine.Detach();
            session.LeftEngine(reverse);
        }

        if (pending.Engine is { } lone)
        {
            if (pending.IsLive)
            {
                lone.Detach();
                session.LeftEngine(pending.Socket);
            }
            else
            {
                // It left before pairing: nothing more is read or sent, and it leaves the loop now (a pending
                // timeout's close may be doing the same meanwhile: both steps happen once).
                lone.Release();
            }
        }

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

    /// <summary>Both sides on one loop: the engine's relay, with what the client sent before pairing sent first.</summary>
    private async Task SpliceOnEngineAsync(RelaySession session, PendingClient pending, EngineSocket client, EngineSocket reverse)
    {
        _metrics.OnReverse(ReverseResult.Paired);
        var counters = new RelayCounters();
        try
        {
            var initial = pending.TakeBuffer(out var length);
            await EpollRelay.RunAsync(client, reverse, counters, initial: initial, initialLength: length);
        }
        finally
        {
            _metrics.OnBytes(counters.FromClient, counters.ToClient);
            pending.Dispose();
            session.Forget(pending.Socket);
            session.Forget(reverse.Socket);

            client.Close();
            reverse.Close();
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

    /// <summary>Turns SO_KEEPALIVE on; false (the socket closed) when the peer reset it already, so no accept loop ends on that.</summary>
    internal static bool KeepAlive(Socket socket)
    {
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            return true;
        }
        catch (SocketException)
        {
            socket.Dispose();
            return false;
        }
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
        List<RelaySession> sessions = [];
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
}
