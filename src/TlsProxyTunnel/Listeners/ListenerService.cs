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
    RuntimeSnapshot snapshot,
    ConnectionTracker tracker,
    ConnectionHandler handler,
    ProxyMetrics metrics,
    ReadinessState readiness,
    ShutdownSignals signals,
    ILogger<ListenerService> logger) : IHostedService
{
    private readonly List<BoundListener> _listeners = [];
    private readonly RateLimitedLog _rejectLog = new(TimeSpan.FromSeconds(1));
    private readonly RateLimitedLog _acceptErrorLog = new(TimeSpan.FromSeconds(1));
    private readonly DescriptorGuard _descriptors = new();
    private volatile bool _stopping;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var server in snapshot.Config.Servers)
        {
            foreach (var listen in server.Listen)
            {
                try
                {
                    var socket = Bind(listen.EndPoint);
                    var bound = (IPEndPoint)socket.LocalEndPoint!;
                    var shown = listen.EndPoint.Port == 0 ? new ListenAddress(bound, bound.ToString()) : listen;
                    _listeners.Add(new BoundListener(server.Name, shown, socket, metrics.Listener(server.Name, shown.Text, server.MaxClients)));
                    Log.Listening(logger, server.Name, shown.Text, server.Tls, server.MaxClients);
                }
                catch (SocketException e)
                {
                    Log.BindFailed(logger, server.Name, listen.Text, $"{e.SocketErrorCode}: {e.Message}");
                    CloseListeners();
                    throw new StartupException($"cannot listen on {listen.Text} for server {server.Name}: {e.Message}");
                }
            }
        }

        foreach (var listener in _listeners)
        {
            _ = Task.Run(() => AcceptLoopAsync(listener), CancellationToken.None);
        }

        readiness.MarkReady();
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        readiness.MarkNotReady();
        CloseListeners();

        var drain = snapshot.Config.ShutdownTimeout;
        Log.Draining(logger, tracker.Count, drain.TotalSeconds);
        var drained = tracker.WhenDrained();
        var deadline = Task.Delay(drain, CancellationToken.None);
        var forced = signals.WhenForced();
        var first = await Task.WhenAny(drained, deadline, forced);
        if (first != drained)
        {
            Log.DrainCut(logger, first == forced ? "second signal" : "shutdown_timeout reached", tracker.Count);
            tracker.AbortAll();

            // Aborted sockets complete their pending operations at once; give the handlers a moment to account.
            await Task.WhenAny(tracker.WhenDrained(), Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None));
        }

        Log.Stopped(logger);
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

                accepted = await listener.Socket.AcceptAsync();
                backoffMs = 0;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                if (_stopping)
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
        var server = snapshot.Servers[listener.Server];
        if (!server.Limiter.TryAcquire())
        {
            server.Metrics.OnRejected();
            if (_rejectLog.TryEnter(out var suppressed))
            {
                Log.Rejected(logger, server.Name, server.Limiter.MaxClients, accepted.RemoteEndPoint?.ToString() ?? "-", suppressed);
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
                Log.RejectedForDescriptors(logger, server.Name, "RLIMIT_NOFILE", accepted.RemoteEndPoint?.ToString() ?? "-", DescriptorGuard.Reserve, suppressed);
            }

            accepted.Dispose();
            return;
        }

        accepted.NoDelay = true;
        var connection = new ClientConnection(accepted, server, listener.Listen, tracker.NextId());
        ThreadPool.UnsafeQueueUserWorkItem(
            static state => _ = state.Handler.RunAsync(state.Connection, state.Metrics),
            (Handler: handler, Connection: connection, Metrics: listener.Metrics),
            preferLocal: false);
    }

    private void CloseListeners()
    {
        foreach (var listener in _listeners)
        {
            listener.Socket.Dispose();
        }
    }

    private sealed record BoundListener(string Server, ListenAddress Listen, Socket Socket, ListenerMetrics Metrics);
}
