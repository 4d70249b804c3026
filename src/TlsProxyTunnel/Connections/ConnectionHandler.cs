using System.Diagnostics;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Connections;

/// <summary>One connection from admission to close: read the hello, route, hand over to the upstream, account.</summary>
internal sealed class ConnectionHandler(ConnectionTracker tracker, ILogger logger)
{
    public async Task RunAsync(ClientConnection connection, ListenerMetrics listenerMetrics)
    {
        var server = connection.Server;
        var config = server.Config;
        tracker.Add(connection);
        listenerMetrics.Enter();
        server.Metrics.OnAccepted();

        var hello = default(HelloReadResult);
        Route? route = null;
        Timer? idleTimer = null;
        var outcome = ConnectionOutcome.Completed;
        try
        {
            if (config.Tls)
            {
                hello = await ClientHelloReader.ReadAsync(connection.Client, config.ClientHelloMaxBytes, config.ClientHelloTimeout, server.Router);
                connection.SetInitialBytes(hello.Buffer, hello.Length);
                connection.Sni = hello.Sni;
            }

            server.Metrics.OnHelloOutcome(hello.Outcome, Stopwatch.GetElapsedTime(connection.StartTimestamp));
            if (hello.Outcome == HelloReadOutcome.Sni || HelloReadOutcomes.RoutesToDefault(hello.Outcome))
            {
                route = server.Select(connection.Sni);
                route.Metrics.OnTaken();
                if (config.IdleTimeout is { } idle)
                {
                    var period = TimeSpan.FromMilliseconds(Math.Clamp(idle.TotalMilliseconds / 4, 20, 1000));
                    idleTimer = new Timer(static s => ((IdleWatch)s!).Check(), new IdleWatch(connection, (long)idle.TotalMilliseconds), period, period);
                }

                outcome = await route.Upstream.ServeAsync(connection, route);
            }
            else
            {
                outcome = hello.Outcome == HelloReadOutcome.ClientClosed && connection.IsAborted ? ConnectionOutcome.Aborted : ConnectionOutcome.HelloFailed;
            }
        }
        catch (Exception e)
        {
            // Upstreams return outcomes; reaching here is a bug, and it must cost one connection, not the process.
            Log.ConnectionCrashed(logger, connection.Id, e);
            outcome = ConnectionOutcome.ClientError;
        }
        finally
        {
            idleTimer?.Dispose();
            if (connection.IsAborted && outcome is not (ConnectionOutcome.Completed or ConnectionOutcome.Banned))
            {
                outcome = connection.AbortReason;
            }

            connection.Close();

            // Hello bytes that were read but never passed on (failed hello, unreachable upstream, ban) were still
            // received: rx counts what the client sent, not only what reached an upstream.
            if (!connection.InitialBytes.IsEmpty)
            {
                connection.Counters.AddFromClient(connection.InitialBytes.Length);
            }

            connection.ReleaseInitialBytes();

            server.Limiter.Release();
            listenerMetrics.Leave();
            var duration = Stopwatch.GetElapsedTime(connection.StartTimestamp);
            server.Metrics.OnClosed(outcome, connection.Counters.FromClient, connection.Counters.ToClient, duration);
            if (logger.IsEnabled(LogLevel.Information))
            {
                Log.Access(
                    logger,
                    connection.RemoteEndPoint?.ToString() ?? "-",
                    server.Name,
                    connection.Listen.Text,
                    connection.Sni ?? "-",
                    HelloReadOutcomes.Label(hello.Outcome),
                    route?.Name ?? "-",
                    route?.Upstream.Name ?? "-",
                    connection.UpstreamAddress ?? "-",
                    connection.Counters.FromClient,
                    connection.Counters.ToClient,
                    (long)duration.TotalMilliseconds,
                    ConnectionOutcomes.Label(outcome));
            }

            tracker.Remove(connection);
        }
    }

    private sealed class IdleWatch(ClientConnection connection, long idleMs)
    {
        public void Check()
        {
            if (Environment.TickCount64 - connection.Counters.LastActivityTicks >= idleMs)
            {
                connection.Abort(ConnectionOutcome.IdleTimeout);
            }
        }
    }
}
