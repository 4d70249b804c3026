using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Hosting;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.Listeners;

/// <summary>
/// Binds every listen address at start (any failure fails the start, so the process never runs half-bound),
/// runs the accept loops, and drains connections on stop.
/// </summary>
internal sealed class ListenerService(
    RuntimeSnapshot initial,
    ConnectionTracker tracker,
    ConnectionHandler handler,
    ProxyMetrics metrics,
    ReadinessState readiness,
    ShutdownSignals signals,
    ILogger<ListenerService> logger) : IHostedService, IDisposable
{
    // Keyed by the configured address text, so a reload keeps a listener whose address stays (even if it moves
    // to another server) and port-0 listeners keep their port.
    private readonly Dictionary<string, BoundListener> _listeners = new(StringComparer.Ordinal);
    private readonly RateLimitedLog _rejectLog = new(TimeSpan.FromSeconds(1));
    private readonly RateLimitedLog _acceptErrorLog = new(TimeSpan.FromSeconds(1));
    private readonly SemaphoreSlim _reloadGate = new(1, 1);
    private volatile RuntimeSnapshot _snapshot = initial;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly DescriptorGuard _descriptors = new((before, now) => Log.FileLimitChanged(logger, before, now));
    private volatile bool _stopping;

    /// <summary>A shutdown has begun: no new generation will be applied.</summary>
    public bool IsStopping => _stopping;
    private List<BoundListener>? _prebound;

    public RuntimeSnapshot Current => _snapshot;

    /// <summary>
    /// Binds every address of the first generation before the host starts, so that a failure is one plain line
    /// from the caller (not a hosting error with a stack trace) and nothing has announced itself as listening.
    /// </summary>
    /// <returns>Null when every address is bound; otherwise why not, with whatever was bound closed again.</returns>
    public string? BindAtStart()
    {
        if (!TryBindAll(_snapshot, out var added, out var error))
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
        if (added is null && !TryBindAll(_snapshot, out added, out var error))
        {
            _started.TrySetCanceled(cancellationToken);
            throw new StartupException(error);
        }

        foreach (var listener in added)
        {
            _listeners[listener.Key] = listener;
            StartAccepting(listener);
        }

        // Announced here, not when bound before the host started: the Listening lines tell an operator (and the
        // tests) that the process is up, so they come after the hosted services before this one (the SIGHUP
        // handler among them) have started.
        Announce(_snapshot, added);
        metrics.ConfigGeneration = _snapshot.Generation;
        readiness.MarkReady();
        _started.TrySetResult();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Moves to a new generation: binds the addresses it adds (if any fails, nothing changes), swaps the
    /// snapshot, then closes the addresses it drops. Connections already running keep their generation.
    /// </summary>
    public async Task<ReloadResult> ApplyAsync(RuntimeSnapshot next)
    {
        // A reload asked for during start-up applies once the first generation is listening.
        await _started.Task;
        await _reloadGate.WaitAsync();
        try
        {
            if (_stopping)
            {
                return new ReloadResult(false, "shutting down", [], []);
            }

            if (!TryBindAll(next, out var added, out var error))
            {
                return new ReloadResult(false, error, [], []);
            }

            var wanted = next.Config.Servers.Where(s => !s.IsUdp).SelectMany(s => s.Listen.Select(l => (Server: s, Key: KeyOf(s.Name, l)))).ToDictionary(p => p.Key, p => p.Server, StringComparer.Ordinal);
            var removed = _listeners.Keys.Where(k => !wanted.ContainsKey(k)).ToList();

            // Addresses that stay may change server or limit: refresh what the accept loop reads.
            foreach (var (key, listener) in _listeners)
            {
                if (wanted.TryGetValue(key, out var server))
                {
                    if (listener.Server != server.Name)
                    {
                        metrics.RemoveListener(listener.Server, listener.Listen.Text);
                    }

                    listener.Metrics = metrics.Listener(server.Name, listener.Listen.Text, next.Servers[server.Name].ConnectionLimit);
                    listener.Server = server.Name;
                }
            }

            _snapshot = next;
            metrics.ConfigGeneration = next.Generation;
            foreach (var listener in added)
            {
                _listeners[listener.Key] = listener;
                StartAccepting(listener);
            }

            Announce(next, added);
            foreach (var key in removed)
            {
                var listener = _listeners[key];
                _listeners.Remove(key);
                listener.Close();
                metrics.RemoveListener(listener.Server, listener.Listen.Text);
            }

            return new ReloadResult(true, null, [.. added.Select(l => $"{l.Server} {l.Listen.Text}")], removed);
        }
        finally
        {
            _reloadGate.Release();
        }
    }

    /// <summary>Logs the addresses now accepting; only ever all of a start or reload, never part of one that failed.</summary>
    private void Announce(RuntimeSnapshot snapshot, List<BoundListener> added)
    {
        foreach (var listener in added)
        {
            var server = snapshot.Servers[listener.Server];
            Log.Listening(logger, listener.Server, listener.Listen.Text, server.Config.Tls, server.ConnectionLimit);
        }
    }

    /// <summary>Binds every address of <paramref name="snapshot"/> not bound yet; on any failure closes what it bound.</summary>
    private bool TryBindAll(RuntimeSnapshot snapshot, out List<BoundListener> added, out string error)
    {
        added = [];
        error = "";
        // UDP servers are bound by Datagrams.UdpListenerService.
        foreach (var server in snapshot.Config.Servers.Where(s => !s.IsUdp))
        {
            foreach (var listen in server.Listen)
            {
                var key = KeyOf(server.Name, listen);
                if (_listeners.ContainsKey(key))
                {
                    continue;
                }

                try
                {
                    var socket = Bind(listen.EndPoint);
                    var bound = (IPEndPoint)socket.LocalEndPoint!;
                    var shown = listen.EndPoint.Port == 0 ? new ListenAddress(bound, bound.ToString()) : listen;
                    var limit = snapshot.Servers[server.Name].ConnectionLimit;
                    added.Add(new BoundListener(key, server.Name, shown, socket, metrics.Listener(server.Name, shown.Text, limit)));
                }
                catch (SocketException e)
                {
                    foreach (var listener in added)
                    {
                        listener.Close();
                        metrics.RemoveListener(listener.Server, listener.Listen.Text);
                    }

                    added.Clear();
                    error = $"cannot listen on {listen.Text}: {Describe(e)} (server {server.Name})";
                    return false;
                }
            }
        }

        return true;
    }

    private static string Describe(SocketException e) => e.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "address in use",
        SocketError.AccessDenied => "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)",
        SocketError.AddressNotAvailable => "address not available (not an address of this host)",
        _ => e.Message,
    };

    // Port 0 means "any port" and several servers may ask for it; those belong to their server.
    private static string KeyOf(string server, ListenAddress listen) => listen.EndPoint.Port == 0 ? $"{server}/{listen.Text}" : listen.Text;

    private void StartAccepting(BoundListener listener) => _ = Task.Run(() => AcceptLoopAsync(listener), CancellationToken.None);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _reloadGate.WaitAsync(CancellationToken.None);
        _stopping = true;
        _reloadGate.Release();
        readiness.MarkNotReady();

        // Probe-only listeners stay open through the drain, so a readiness probe is told 503 instead of
        // finding the port closed, and a liveness probe does not kill a process that is still draining.
        CloseListeners(probeListeners: false);

        var drain = _snapshot.Config.ShutdownTimeout;
        Log.Draining(logger, tracker.DrainCount, drain.TotalSeconds);
        var drained = tracker.WhenDrained();
        var deadline = Task.Delay(drain, CancellationToken.None);
        var forced = signals.WhenForced();
        var first = await Task.WhenAny(drained, deadline, forced);
        CloseListeners();
        if (first != drained)
        {
            Log.DrainCut(logger, first == forced ? "second signal" : "shutdown_timeout reached", tracker.Count);
        }

        // Connections left now are cut: relays the deadline or a second signal ended, or probes still open.
        if (tracker.Count > 0)
        {
            tracker.AbortAll();

            // Aborted sockets complete their pending operations at once; give the handlers a moment to account.
            await Task.WhenAny(tracker.WhenClosed(), Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None));
        }

        Log.Stopped(logger);
    }

    public void Dispose()
    {
        CloseListeners();
        _reloadGate.Dispose();
        _descriptors.Dispose();
    }

    internal static Socket Bind(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                // v6-only, so 0.0.0.0:P and [::]:P can both be configured, each serving its own family.
                socket.DualMode = false;
            }

            // Accepted sockets inherit TCP_NODELAY from the listener on Linux: one setsockopt per listener, not per connection.
            socket.NoDelay = true;

            // No ReuseAddress: on Linux .NET maps it to SO_REUSEPORT too, which would let another process share the port.
            socket.Bind(endPoint);
            socket.Listen(4096);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task AcceptLoopAsync(BoundListener listener)
    {
        var backoffMs = 0;
        while (true)
        {
            Socket accepted;
            try
            {
                if (backoffMs > 0 && !_descriptors.TryTakeSpares())
                {
                    // Still short of descriptors: accepting now would only take the runtime's last ones.
                    backoffMs = Math.Clamp(backoffMs * 2, 10, 1000);
                    await Task.Delay(backoffMs);
                    continue;
                }

                // The token overload returns a ValueTask over the socket's cached event args; the parameterless one
                // allocates a Task per accepted connection.
                accepted = await listener.Socket.AcceptAsync(CancellationToken.None);
                backoffMs = 0;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                if (_stopping || listener.IsClosed)
                {
                    return;
                }

                if (e.SocketErrorCode == SocketError.TooManyOpenSockets)
                {
                    // First, before logging or waiting (either may need a new thread, which needs descriptors).
                    _descriptors.ReleaseSpares();
                }

                // EMFILE, ENFILE, ENOBUFS, aborted handshakes: all pass. The loop must outlive them.
                backoffMs = Math.Clamp(backoffMs * 2, 10, 1000);
                if (_acceptErrorLog.TryEnter(out var suppressed))
                {
                    Log.AcceptFailed(logger, listener.Listen.Text, e.SocketErrorCode.ToString(), backoffMs, suppressed);
                }

                await Task.Delay(backoffMs);
                continue;
            }
            catch (Exception e) when (!_stopping)
            {
                // Whatever else fails here must not end the listener for good.
                backoffMs = Math.Clamp(backoffMs * 2, 10, 1000);
                Log.AcceptLoopError(logger, listener.Listen.Text, backoffMs, e);
                await Task.Delay(backoffMs);
                continue;
            }

            Admit(listener, accepted);
        }
    }

    private void Admit(BoundListener listener, Socket accepted)
    {
        // A reload may swap the snapshot between the two reads; the second read then sees the new one.
        if (!_snapshot.Servers.TryGetValue(listener.Server, out var server) && !_snapshot.Servers.TryGetValue(listener.Server, out server))
        {
            accepted.Dispose();
            return;
        }

        if (!server.Limiter.TryAcquire(server.ConnectionLimit))
        {
            server.Metrics.OnRejected();
            if (_rejectLog.TryEnter(out var suppressed))
            {
                Log.Rejected(logger, server.Name, server.ConnectionLimit, accepted.RemoteEndPoint?.ToString() ?? "-", suppressed);
            }

            accepted.Dispose();
            return;
        }

        if (!_descriptors.HasRoom(tracker.Count))
        {
            server.Limiter.Release();
            server.Metrics.OnRejected();
            if (_rejectLog.TryEnter(out var suppressed))
            {
                Log.RejectedForDescriptors(logger, server.Name, _descriptors.Limit, accepted.RemoteEndPoint?.ToString() ?? "-", DescriptorGuard.Reserve, suppressed);
            }

            accepted.Dispose();
            return;
        }

        var connection = new ClientConnection(accepted, server, listener.Listen, tracker.NextId());

        // Started in place: it runs only non-blocking work up to its first await, and a hop to a pool thread
        // cost a futex wake plus spinning per connection (measured with strace).
        _ = handler.RunAsync(connection, listener.Metrics);
    }

    private void CloseListeners(bool probeListeners = true)
    {
        foreach (var listener in _listeners.Values)
        {
            if (probeListeners || !IsProbeListener(listener))
            {
                listener.Close();
            }
        }
    }

    private bool IsProbeListener(BoundListener listener) => _snapshot.Servers.TryGetValue(listener.Server, out var server) && server.ProbeOnly;

    private sealed class BoundListener(string key, string server, ListenAddress listen, Socket socket, ListenerMetrics metrics)
    {
        public string Key { get; } = key;

        public ListenAddress Listen { get; } = listen;

        public Socket Socket { get; } = socket;

        public volatile string Server = server;

        public volatile ListenerMetrics Metrics = metrics;

        private volatile bool _closed;

        public bool IsClosed => _closed;

        public void Close()
        {
            _closed = true;
            Socket.Dispose();
        }
    }
}
