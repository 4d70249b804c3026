using System.Diagnostics;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Connections;

/// <summary>
/// One connection from admission to close: the server's client stages (read the hello, route, terminate TLS),
/// then the route's upstream, then the accounting.
/// </summary>
internal sealed class ConnectionHandler(ConnectionTracker tracker, ILogger logger) : IDisposable
{
    private readonly IdleSweeper _idle = new(tracker);

    public void Dispose() => _idle.Dispose();

    public async Task RunAsync(ClientConnection connection, ListenerMetrics listenerMetrics)
    {
        var server = connection.Server;
        var config = server.Config;
        tracker.Add(connection);
        listenerMetrics.Enter();
        server.Metrics.OnAccepted();

        var idleWatched = false;
        var outcome = ConnectionOutcome.Completed;
        try
        {
            // True while everything so far completed at once: this still runs on the accept loop's thread, and
            // work that may hold a thread (IClientStage.HoldsThread, IUpstream.ServesInline) must leave it first,
            // or one slow or hostile client could stall accepting. Yielding only then keeps the common path hop-free.
            var onAcceptThread = true;

            // Indexed: a foreach over the interface would allocate an enumerator per connection.
            ConnectionOutcome? failed = null;
            var stages = server.ClientStages;
            for (var i = 0; i < stages.Count && failed is null; i++)
            {
                var stage = stages[i];
                if (onAcceptThread && stage.HoldsThread)
                {
                    await Task.Yield();
                    onAcceptThread = false;
                }

                var pending = stage.RunAsync(connection);
                onAcceptThread &= pending.IsCompleted;
                failed = await pending;
            }

            if (failed is { } stopped)
            {
                outcome = stopped;
            }
            else if (connection.Route is { } route)
            {
                if (config.IdleTimeout is { } idle)
                {
                    _idle.Watch(connection, idle);
                    idleWatched = true;
                }

                if (connection.ClientEngine is { } engine && !route.Upstream.RunsOnEngine)
                {
                    // This upstream runs on System.Net.Sockets; its work must not run on (and hold up) the engine's loop.
                    connection.LeaveEngine();
                    if (engine.Loop.IsOnLoop)
                    {
                        await Task.Yield();
                        onAcceptThread = false;
                    }
                }

                if (onAcceptThread && route.Upstream.ServesInline)
                {
                    // Off the accept loop's thread (see IUpstream.ServesInline): a pipelining client must not stall accepting.
                    await Task.Yield();
                }

                outcome = await route.Upstream.ServeAsync(connection, route);
            }
        }
        catch (Exception e)
        {
            // Stages and upstreams return outcomes; reaching here is a bug, and it must cost one connection, not the process.
            Log.ConnectionCrashed(logger, connection.Id, e);
            outcome = ConnectionOutcome.ClientError;
        }
        finally
        {
            if (idleWatched)
            {
                _idle.Unwatch(connection);
            }
            if (connection.IsAborted && outcome is not (ConnectionOutcome.Completed or ConnectionOutcome.Banned))
            {
                outcome = connection.AbortReason;
            }

            // Hello bytes that were read but never passed on (failed hello, unreachable upstream, ban) were still
            // received: rx counts what the client sent, not only what reached an upstream.
            if (!connection.InitialBytes.IsEmpty)
            {
                connection.Counters.AddFromClient(connection.InitialBytes.Length);
            }

            // The place under maxclients is free before the access line says the connection ended (the line is the
            // signal that another may come in), and the line and metrics are written before the sockets close (a
            // peer that has seen its connection end finds it there).
            connection.ReleaseSlot();
            listenerMetrics.Leave();
            var duration = Stopwatch.GetElapsedTime(connection.StartTimestamp);
            server.Metrics.OnClosed(outcome, connection.Counters.FromClient, connection.Counters.ToClient, duration);
            if (logger.IsEnabled(LogLevel.Information))
            {
                LogAccess(connection, outcome, duration);
            }

            connection.Close();
            connection.ReleaseInitialBytes();
            tracker.Remove(connection);
        }
    }

    private void LogAccess(ClientConnection connection, ConnectionOutcome outcome, TimeSpan duration)
    {
        var route = connection.Route;
        var extra = connection.ExistingClientLeg is Inspection.InspectedLeg { Filters: true } inspected
            ? FilteredFields(connection.PoolUse, inspected.Counts)
            : connection.PoolUse is { } pool ? " pool=" + pool : "";
        if (extra.Length == 0 && connection.ClientTls is null && connection.UpstreamTlsVersion is null)
        {
            // Connections tpt did not decrypt keep the line they always had.
            Log.Access(
                logger,
                connection.RemoteEndPoint?.ToString() ?? "-",
                connection.Server.Name,
                connection.Listen.Text,
                connection.Sni ?? "-",
                HelloReadOutcomes.Label(connection.Hello),
                route?.Name ?? "-",
                route?.Upstream.Name ?? "-",
                connection.UpstreamAddress ?? "-",
                connection.Counters.FromClient,
                connection.Counters.ToClient,
                (long)duration.TotalMilliseconds,
                ConnectionOutcomes.Label(outcome));
            return;
        }

        var tls = connection.ClientTls;
        Log.AccessTls(
            logger,
            connection.RemoteEndPoint?.ToString() ?? "-",
            connection.Server.Name,
            connection.Listen.Text,
            connection.Sni ?? "-",
            HelloReadOutcomes.Label(connection.Hello),
            route?.Name ?? "-",
            route?.Upstream.Name ?? "-",
            connection.UpstreamAddress ?? "-",
            connection.Counters.FromClient,
            connection.Counters.ToClient,
            (long)duration.TotalMilliseconds,
            ConnectionOutcomes.Label(outcome),
            tls?.Version ?? "-",
            tls?.Cipher ?? "-",
            tls?.Alpn ?? "-",
            tls?.ClientCertificate is { } subject ? Quote(subject) : "-",
            connection.UpstreamTlsVersion ?? "-",
            extra);
    }

    /// <summary>
    /// A server with filters: rx is what went upstream (after the "i" filters) and tx what the upstream sent (before
    /// the "o" filters); filtered_in and filtered_out give each side of both.
    /// </summary>
    private static string FilteredFields(string? pool, Inspection.FilterCounts counts) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $" pool={pool ?? "-"} filtered_in={counts.FromClientBefore}->{counts.FromClientAfter} filtered_out={counts.ToClientBefore}->{counts.ToClientAfter}");

    /// <summary>A certificate subject has spaces and commas; quoted, the line still splits on spaces.</summary>
    private static string Quote(string subject) => "\"" + Tls.PeerText.Printable(subject).Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
