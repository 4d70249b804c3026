using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Hosting;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Datagrams;

/// <summary>
/// The UDP servers (<c>protocol: udp</c>): binds their addresses with the TCP ones at start (a failure fails the
/// start), receives datagrams, keeps one session per client address, ends sessions idle for <c>udp.idle_timeout</c>,
/// and closes them all on stop. A reload keeps a listener, and its sessions, whose server and upstream stay as they were.
/// </summary>
internal sealed class UdpListenerService(RuntimeSnapshot initial, ILogger<UdpListenerService> logger) : IHostedService, IDisposable
{
    private readonly Dictionary<string, UdpListener> _listeners = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly RateLimitedLog _limitLog = new(TimeSpan.FromSeconds(1));
    private List<UdpListener>? _prebound;

    /// <summary>Binds every UDP address of the first generation, and checks <c>so_mark</c> can be set, before the host starts.</summary>
    public string? BindAtStart()
    {
        if (ProbeMarks(initial) is { } markError)
        {
            return markError;
        }

        if (!TryBindAll(initial, out var added, out var error))
        {
            return error;
        }

        _prebound = added;
        return null;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var added = _prebound;
        _prebound = null;
        if (added is null && !TryBindAll(initial, out added, out var error))
        {
            throw new StartupException(error);
        }

        Start(added);
        return Task.CompletedTask;
    }

    /// <summary>Moves the UDP servers to <paramref name="next"/>; null when applied, else why not (nothing changed then).</summary>
    public async Task<string?> ApplyAsync(RuntimeSnapshot next)
    {
        await _gate.WaitAsync();
        try
        {
            if (ProbeMarks(next) is { } markError)
            {
                return markError;
            }

            // A listen address that stays keeps its socket (and port); its sessions stay too when its server's udp
            // settings and upstream are as they were, and end (outcome=reload) when not.
            var keep = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (key, listener) in _listeners)
            {
                if (next.Servers.TryGetValue(listener.Server.Name, out var server) && server.Config.IsUdp
                    && server.Config.Listen.Any(l => l.Text == listener.ListenText))
                {
                    listener.Retarget(server);
                    keep.Add(key);
                }
            }

            foreach (var key in _listeners.Keys.Where(k => !keep.Contains(k)).ToList())
            {
                _listeners[key].Close("reload");
                _listeners.Remove(key);
            }

            if (!TryBindAll(next, out var added, out var error))
            {
                return error;
            }

            Start(added);
            return null;
        }
        finally
        {
            _gate.Release();
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        // Nothing of a datagram is in flight between two reads: the sessions end at once, each with its access line.
        foreach (var listener in _listeners.Values)
        {
            listener.Close("shutdown");
        }

        _listeners.Clear();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        foreach (var listener in _listeners.Values)
        {
            listener.Close("shutdown");
        }

        _gate.Dispose();
    }

    private static string? ProbeMarks(RuntimeSnapshot snapshot)
    {
        foreach (var upstream in snapshot.Config.Upstreams.Values)
        {
            if (upstream.SoMark is { } mark && SocketMark.Probe(mark) is { } error)
            {
                return $"'so_mark' of upstream {DiagnosticText.Quote(upstream.Name)}: {error}";
            }
        }

        return null;
    }

    private void Start(List<UdpListener> added)
    {
        foreach (var listener in added)
        {
            _listeners[listener.Key] = listener;
            listener.Start();
            var udp = listener.Server.Config.Udp;
            Log.UdpListening(logger, listener.Server.Name, listener.ShownListen, udp.MaxSessions, udp.IdleTimeout.TotalSeconds);
        }
    }

    private bool TryBindAll(RuntimeSnapshot snapshot, out List<UdpListener> added, out string error)
    {
        added = [];
        error = "";
        foreach (var server in snapshot.Config.Servers.Where(s => s.IsUdp))
        {
            var runtime = snapshot.Servers[server.Name];
            foreach (var listen in server.Listen)
            {
                var key = $"{server.Name}/{listen.Text}";
                if (_listeners.ContainsKey(key))
                {
                    continue;
                }

                try
                {
                    added.Add(new UdpListener(key, listen.Text, Bind(listen.EndPoint), runtime, _limitLog, logger));
                }
                catch (SocketException e)
                {
                    foreach (var listener in added)
                    {
                        listener.Close("reload");
                    }

                    added.Clear();
                    error = $"cannot listen on udp {listen.Text}: {(e.SocketErrorCode == SocketError.AddressAlreadyInUse ? "address in use" : e.Message)} (server {server.Name})";
                    return false;
                }
            }
        }

        return true;
    }

    internal static Socket Bind(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }

            UdpBuffers.Deepen(socket);
            socket.Bind(endPoint);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>One bound UDP address of a server, its sessions by client address, and the sweep that ends idle ones.</summary>
internal sealed class UdpListener : IDisposable
{
    private readonly ConcurrentDictionary<SocketAddress, DatagramSession> _sessions = new();
    private readonly Socket _socket;
    private readonly RateLimitedLog _limitLog;
    private readonly ILogger _logger;
    private readonly Timer _sweep;
    private volatile IDatagramUpstream _upstream;
    private volatile RuntimeServer _server;
    private long _idleMs;
    private volatile bool _closed;

    public UdpListener(string key, string listenText, Socket socket, RuntimeServer server, RateLimitedLog limitLog, ILogger logger)
    {
        Key = key;
        _socket = socket;
        var bound = (IPEndPoint)socket.LocalEndPoint!;
        ListenText = listenText;
        ShownListen = bound.Port != 0 && listenText.EndsWith(":0", StringComparison.Ordinal) ? bound.ToString() : listenText;
        _server = server;
        _upstream = server.Datagrams!;
        _limitLog = limitLog;
        _logger = logger;
        _idleMs = (long)server.Config.Udp.IdleTimeout.TotalMilliseconds;
        var period = TimeSpan.FromMilliseconds(Math.Clamp(_idleMs / 4, 50, 1000));
        _sweep = new Timer(static s => ((UdpListener)s!).Sweep(), this, Timeout.InfiniteTimeSpan, period);
        _sweepPeriod = period;
    }

    private readonly TimeSpan _sweepPeriod;

    public string Key { get; }

    public string ListenText { get; }

    /// <summary>The address as bound (a port-0 address shows its port).</summary>
    public string ShownListen { get; }

    /// <summary>The server as of the generation in use (a reload replaces it).</summary>
    public RuntimeServer Server => _server;

    public DatagramServerMetrics Metrics => _server.DatagramMetrics!;

    public int SessionCount => _sessions.Count;

    /// <summary>
    /// Moves to the server as <paramref name="next"/> has it: sessions stay when its udp settings and upstream are as
    /// they were; otherwise they end (outcome=reload) and new ones go to the new upstream.
    /// </summary>
    public void Retarget(RuntimeServer next)
    {
        var same = next.Config.Udp == _server.Config.Udp && next.Datagrams!.Key == _upstream.Key;
        if (!same)
        {
            foreach (var (address, session) in _sessions)
            {
                if (_sessions.TryRemove(address, out _))
                {
                    End(session, "reload");
                }
            }

            _upstream = next.Datagrams!;
        }

        Volatile.Write(ref _idleMs, (long)next.Config.Udp.IdleTimeout.TotalMilliseconds);
        _server = next;
    }

    public void Start()
    {
        _sweep.Change(_sweepPeriod, _sweepPeriod);
        _ = Task.Run(ReceiveLoopAsync);
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(UotpFrames.MaxFrame);
        var from = new SocketAddress(_socket.AddressFamily);
        try
        {
            while (!_closed)
            {
                int received;
                try
                {
                    received = await _socket.ReceiveFromAsync(buffer.AsMemory(0, UotpFrames.MaxFrame), SocketFlags.None, from, CancellationToken.None);
                }
                catch (SocketException e) when (!_closed)
                {
                    Log.UdpReceiveFailed(_logger, ShownListen, e.SocketErrorCode.ToString(), 10);
                    await Task.Delay(10);
                    continue;
                }

                if (!_sessions.TryGetValue(from, out var session) || session.IsClosed)
                {
                    session = TryOpen(from);
                    if (session is null)
                    {
                        continue;
                    }
                }

                session.Offer(buffer.AsSpan(0, received));
            }
        }
        catch (ObjectDisposedException)
        {
            // Closed.
        }
        catch (SocketException) when (_closed)
        {
            // Closed.
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private DatagramSession? TryOpen(SocketAddress from)
    {
        var client = new SocketAddress(from.Family, from.Size);
        from.Buffer.Span[..from.Size].CopyTo(client.Buffer.Span);
        var clientText = new IPEndPoint(IPAddress.Any, 0).Create(client).ToString() ?? "-";

        // A closed session still in the table is replaced: its end is logged now, not at the next sweep.
        if (_sessions.TryRemove(client, out var stale))
        {
            End(stale, "upstream_unreachable");
        }

        if (!Server.Limiter.TryAcquire(Server.Config.Udp.MaxSessions))
        {
            Metrics.OnDrop(DatagramDrop.MaxSessions);
            if (_limitLog.TryEnter(out var suppressed))
            {
                Log.UdpSessionLimit(_logger, Server.Name, Server.Config.Udp.MaxSessions, clientText, suppressed);
            }

            return null;
        }

        var session = _upstream.Open(new DatagramSessionContext(Server.Name, ShownListen, _socket, client, clientText, Metrics));
        _sessions[client] = session;
        Metrics.OnSessionStarted();
        session.Start();
        return session;
    }

    private void Sweep()
    {
        var now = Environment.TickCount64;
        foreach (var (address, session) in _sessions)
        {
            var idle = now - session.LastActivity >= Volatile.Read(ref _idleMs);
            if ((idle || session.IsClosed) && _sessions.TryRemove(address, out _))
            {
                End(session, idle ? "idle_timeout" : "upstream_unreachable");
            }
        }
    }

    private void End(DatagramSession session, string outcome)
    {
        session.Close();
        Server.Limiter.Release();
        Metrics.OnSessionEnded();
        if (_logger.IsEnabled(LogLevel.Information))
        {
            var context = session.Context;
            Log.UdpSessionAccess(
                _logger,
                context.ClientText,
                context.Server,
                context.Listen,
                _upstream.Name,
                session.UpstreamAddress,
                session.SessionText,
                session.DatagramsIn,
                session.BytesIn,
                session.DatagramsOut,
                session.BytesOut,
                session.Dropped,
                session.ConnectionsOpened,
                (long)session.Age.TotalMilliseconds,
                outcome);
        }
    }

    public void Dispose() => Close("shutdown");

    public void Close(string outcome)
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        _sweep.Dispose();
        _socket.Dispose();
        foreach (var (address, session) in _sessions)
        {
            if (_sessions.TryRemove(address, out _))
            {
                End(session, outcome);
            }
        }
    }
}
