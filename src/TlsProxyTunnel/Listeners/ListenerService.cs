using TlsProxyTunnel.Engine.Linux;
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
/// The listeners of the running generation, from start to stop: binds every address at start (any failure fails
/// the start, so the process never runs half-bound; <see cref="ListenerBinder"/>), runs an <see cref="AcceptLoop"/>
/// per address, hands what <see cref="Admission"/> lets in to the <see cref="ConnectionHandler"/>, applies a
/// reload's <see cref="ReloadPlan"/>, and runs the <see cref="ConnectionDrain"/> on stop.
/// </summary>
internal sealed class ListenerService : IHostedService, IDisposable
{
    private readonly Dictionary<string, BoundListener> _listeners = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _reloadGate = new(1, 1);
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConnectionTracker _tracker;
    private readonly ConnectionHandler _handler;
    private readonly ProxyMetrics _metrics;
    private readonly ReadinessState _readiness;
    private readonly ShutdownSignals _signals;
    private readonly ILogger _logger;
    private readonly DescriptorGuard _descriptors;
    private readonly AcceptLoop _acceptLoop;
    private readonly Admission _admission;
    private readonly ConnectionDrain _drain;
    private volatile RuntimeSnapshot _snapshot;
    private volatile bool _stopping;
    private bool _engineWarned;
    private List<BoundListener>? _prebound;

    public ListenerService(
        RuntimeSnapshot initial,
        ConnectionTracker tracker,
        ConnectionHandler handler,
        ProxyMetrics metrics,
        ReadinessState readiness,
        ShutdownSignals signals,
        ILogger<ListenerService> logger)
    {
        _snapshot = initial;
        _tracker = tracker;
        _handler = handler;
        _metrics = metrics;
        _readiness = readiness;
        _signals = signals;
        _logger = logger;
        _descriptors = new DescriptorGuard((before, now) => Log.FileLimitChanged(logger, before, now));
        _acceptLoop = new AcceptLoop(_descriptors, TimeProvider.System, () => _stopping, logger);
        _admission = new Admission(tracker, _descriptors, logger);
        _drain = new ConnectionDrain(tracker, TimeProvider.System, logger);
    }

    /// <summary>A shutdown has begun: no new generation will be applied.</summary>
    public bool IsStopping => _stopping;

    public RuntimeSnapshot Current => _snapshot;

    /// <summary>Admission for accepted sockets, and for those that come from elsewhere (<see cref="Connections.ConnectionIntake"/>).</summary>
    public Admission Admission => _admission;

    /// <summary>The addresses bound now (port 0 resolved), for in-process tests and benchmarks.</summary>
    internal IReadOnlyList<IPEndPoint> BoundEndPoints() => [.. _listeners.Values.Select(l => l.Listen.EndPoint)];

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

        StartEngine(_snapshot);
        foreach (var listener in added)
        {
            _listeners[listener.Key] = listener;
            StartAccepting(listener);
        }

        // Announced here, not when bound before the host started: the Listening lines tell an operator (and the
        // tests) that the process is up, so they come after the hosted services before this one (the SIGHUP
        // handler among them) have started.
        Announce(_snapshot, added);
        _metrics.ConfigGeneration = _snapshot.Generation;
        _readiness.MarkReady();
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

            var plan = ReloadPlan.Of(_listeners.Keys, next.Config);

            // Addresses that stay may change server or limit: refresh what the accept loop reads.
            foreach (var (key, server) in plan.Kept)
            {
                var listener = _listeners[key];
                if (listener.Server != server)
                {
                    _metrics.RemoveListener(listener.Server, listener.Listen.Text);
                }

                listener.Metrics = _metrics.Listener(server, listener.Listen.Text, next.Servers[server].ConnectionLimit);
                listener.Server = server;
            }

            StartEngine(next);
            _snapshot = next;
            _metrics.ConfigGeneration = next.Generation;
            foreach (var listener in added)
            {
                _listeners[listener.Key] = listener;
                StartAccepting(listener);
            }

            Announce(next, added);
            foreach (var key in plan.Removed)
            {
                var listener = _listeners[key];
                _listeners.Remove(key);
                listener.Close();
                _metrics.RemoveListener(listener.Server, listener.Listen.Text);
            }

            return new ReloadResult(true, null, [.. added.Select(l => $"{l.Server} {l.Listen.Text}")], plan.Removed);
        }
        finally
        {
            _reloadGate.Release();
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _reloadGate.WaitAsync(CancellationToken.None);
        _stopping = true;
        _reloadGate.Release();
        _readiness.MarkNotReady();

        // Probe-only listeners stay open through the drain, so a readiness probe is told 503 instead of
        // finding the port closed, and a liveness probe does not kill a process that is still draining.
        CloseListeners(probeListeners: false);
        var cut = await _drain.WaitAsync(_snapshot.Config.ShutdownTimeout, _signals.WhenForced());
        CloseListeners();
        if (cut is not null)
        {
            Log.DrainCut(_logger, cut, _tracker.Count);
        }

        // Connections left now are cut: relays the deadline or a second signal ended, or probes still open.
        await _drain.CutAsync();
        Log.Stopped(_logger);
    }

    public void Dispose()
    {
        CloseListeners();
        _reloadGate.Dispose();
        _descriptors.Dispose();
    }

    /// <summary>Logs the addresses now accepting; only ever all of a start or reload, never part of one that failed.</summary>
    private void Announce(RuntimeSnapshot snapshot, List<BoundListener> added)
    {
        foreach (var listener in added)
        {
            var server = snapshot.Servers[listener.Server];
            Log.Listening(_logger, listener.Server, listener.Listen.Text, server.Config.Tls, server.ConnectionLimit, Engine.EngineSelection.Name(server.Engine));
        }
    }

    private bool TryBindAll(RuntimeSnapshot snapshot, out List<BoundListener> added, out string error) =>
        ListenerBinder.TryBindAll(snapshot, _listeners.ContainsKey, _metrics, out added, out error);

    /// <summary>
    /// Starts the Linux engine's loops before the first client of a server that runs on it arrives. Where they
    /// cannot start, such servers' clients stay on System.Net.Sockets, and the log says so once.
    /// </summary>
    private void StartEngine(RuntimeSnapshot snapshot)
    {
        if (_engineWarned || !snapshot.Servers.Values.Any(s => s.Engine == Engine.EngineKind.Linux))
        {
            return;
        }

        EpollLoop.OnHandlerError ??= e => Log.EngineHandlerFailed(_logger, e);
        if (LinuxEngine.Shared is null)
        {
            _engineWarned = true;
            Log.EngineUnavailable(_logger, LinuxEngine.StartError ?? "unknown error");
        }
    }

    private void StartAccepting(BoundListener listener) =>
        _ = Task.Run(() => _acceptLoop.RunAsync(listener, accepted => Admit(listener, accepted)), CancellationToken.None);

    private void Admit(BoundListener listener, Socket accepted)
    {
        // A reload may swap the snapshot between the two reads; the second read then sees the new one.
        if (!_snapshot.Servers.TryGetValue(listener.Server, out var server) && !_snapshot.Servers.TryGetValue(listener.Server, out server))
        {
            accepted.Dispose();
            return;
        }

        if (!_admission.TryAdmit(server, accepted, out var slot))
        {
            return;
        }

        // The connection owns the slot from here on and gives it back when it closes.
        var connection = new ClientConnection(accepted, server, listener.Listen, _tracker.NextId(), slot);
        if (server.AdmitsToEngine && LinuxEngine.Shared is { } engine)
        {
            // Refused by the kernel (out of memory for epoll): this client simply stays on System.Net.Sockets.
            connection.EnterEngine(engine.NextLoop());
        }

        // Started in place: it runs only non-blocking work up to its first await, and a hop to a pool thread
        // cost a futex wake plus spinning per connection (measured with strace). Work that may hold the thread
        // (a TLS handshake, an upstream serving from client data alone) leaves it first; see ConnectionHandler.
        _ = _handler.RunAsync(connection, listener.Metrics);
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
}
