using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Hosting;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.ReverseRelay;

/// <summary>
/// Binds every <c>tls_relay</c> server's control and data ports before the host starts (any failure fails the start),
/// accepts control connections into the normal client pipeline (<see cref="ConnectionIntake"/>), and closes every
/// relay port and connection first on shutdown. A relay's ports and settings are those it started with: a reload
/// changes how control connections are served (maxclients, certificates), not the port layout.
/// </summary>
internal sealed class RelayService(RuntimeSnapshot initial, RelayHubs hubs, RelayMetrics metrics, ConnectionIntake intake, ILoggerFactory loggers) : IHostedService
{
    private readonly ILogger _logger = loggers.CreateLogger("TlsProxyTunnel.Relay");
    private readonly List<RelayHub> _hubs = [];
    private volatile bool _stopping;

    /// <returns>Null when every relay port is bound; otherwise why not, with nothing left bound.</returns>
    public string? BindAtStart()
    {
        foreach (var server in initial.Config.Servers)
        {
            if (server.Relay is not { } settings)
            {
                continue;
            }

            // The data ports follow the server's engine (decided once, at start, as the ports are).
            var engine = initial.Servers[server.Name].Engine == Engine.EngineKind.Linux ? Engine.Linux.LinuxEngine.Shared : null;
            var hub = new RelayHub(server.Name, settings, metrics.Relay(server.Name, settings.PairCount), _logger, engine);
            if (hub.Bind() is { } error)
            {
                foreach (var bound in _hubs)
                {
                    bound.Dispose();
                }

                _hubs.Clear();
                return error;
            }

            _hubs.Add(hub);
        }

        return null;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_hubs.Count == 0 && initial.Config.Servers.Any(s => s.Relay is not null) && BindAtStart() is { } error)
        {
            throw new StartupException(error);
        }

        foreach (var hub in _hubs)
        {
            hubs.Add(hub);
            hub.Start();
            _ = Task.Run(() => AcceptControlAsync(hub), CancellationToken.None);
            var settings = hub.Settings;
            var server = initial.Servers[hub.Server];
            Log.Listening(_logger, hub.Server, hub.ControlListen.Text, server.Config.TerminateTls is not null, server.ConnectionLimit, Engine.EngineSelection.Name(server.Engine));
            RelayLog.Ports(
                _logger,
                hub.Server,
                hub.ControlListen.Text,
                hub.FirstReversePort,
                hub.FirstReversePort + settings.PairCount - 1,
                hub.FirstPublicPort,
                hub.FirstPublicPort + settings.PairCount - 1,
                (settings.Bind ?? settings.Control.EndPoint.Address).ToString(),
                settings.AdvertiseHost);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        // First of the services to stop: control sessions would otherwise hold the listeners' drain for its whole
        // shutdown_timeout, since a server never ends its session on its own.
        _stopping = true;
        foreach (var hub in _hubs)
        {
            hub.Dispose();
        }

        return Task.CompletedTask;
    }

    private async Task AcceptControlAsync(RelayHub hub)
    {
        while (!_stopping)
        {
            Socket accepted;
            try
            {
                accepted = await hub.Control!.AcceptAsync(CancellationToken.None);
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

                RelayLog.AcceptFailed(_logger, hub.Server, hub.ControlListen.EndPoint.Port, e.SocketErrorCode.ToString());
                await Task.Delay(100);
                continue;
            }

            if (RelayHub.KeepAlive(accepted))
            {
                intake.TryAdmit(hub.Server, accepted, hub.ControlListen);
            }
        }
    }
}
