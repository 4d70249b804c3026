using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Engine.Linux;
using TlsProxyTunnel.Relay;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Tls;
using TlsProxyTunnel.Upstreams.Stages;

namespace TlsProxyTunnel.Upstreams;

/// <summary>
/// A <c>tcp://</c> upstream as the composition of its stages (resolve and connect, CONNECT through the route's
/// via, TLS), built per upstream and via when the snapshot is: run the stages, replay the bytes already read,
/// relay both ways.
/// </summary>
internal sealed class TcpUpstream(UpstreamConfig config, IReadOnlyList<IUpstreamStage> stages, ILogger logger) : IUpstream
{
    public string Name => config.Name;

    public bool ServesInline => false;

    /// <summary>A direct plain upstream (no via, TLS, PROXY header or pool): connect and relay on the Linux engine.</summary>
    public bool RunsOnEngine { get; } = stages is [TcpConnectStage];

    public UpstreamConfig Config => config;

    /// <summary>The stages in the order they run, for tests and diagnostics.</summary>
    public IReadOnlyList<IUpstreamStage> Stages => stages;

    public async ValueTask<ConnectionOutcome> ServeAsync(ClientConnection connection, Route route)
    {
        var via = route.Via;
        UpstreamDial? dial = new UpstreamDial(connection, route, config.ConnectTimeout ?? via.ConnectTimeout);
        // Indexed: a foreach over the interface would allocate an enumerator per connection.
        for (var i = 0; i < stages.Count; i++)
        {
            if (await stages[i].RunAsync(dial) is { } failed)
            {
                return failed;
            }
        }

        if (connection.ClientEngine is { } clientEngine && connection.UpstreamEngine is { } upstreamEngine)
        {
            // The engine's relay, awaited in this frame (no frame of its own, nothing kept that the relay does not
            // need): an idle connection's whole state is this frame, the handler's, and the relay object.
            using var engineStats = StartStats(via, connection, dial.AuthorityDisplay);
            dial = null;
            var initial = connection.TakeInitialBytes(out var length);
            var relayed = await EpollRelay.RunAsync(
                clientEngine,
                upstreamEngine,
                connection.Counters,
                connection.Server.Config.WriteTimeout,
                static c => ((ClientConnection)c).Abort(ConnectionOutcome.WriteTimeout),
                connection,
                initial,
                length);
            return connection.IsAborted ? ConnectionOutcome.Aborted : Outcome(relayed);
        }

        var client = connection.ClientLeg;
        var upstream = connection.UpstreamLeg!;
        if (!dial.Leftover.IsEmpty)
        {
            if (!await TryWriteAsync(client, dial.Leftover))
            {
                return connection.IsAborted ? ConnectionOutcome.Aborted : ConnectionOutcome.ClientError;
            }

            connection.Counters.AddToClient(dial.Leftover.Length);
        }

        if (!connection.InitialBytes.IsEmpty)
        {
            if (!await TryWriteAsync(upstream, connection.InitialBytes))
            {
                return connection.IsAborted ? ConnectionOutcome.Aborted : ConnectionOutcome.UpstreamError;
            }

            connection.Counters.AddFromClient(connection.InitialBytes.Length);
            connection.ReleaseInitialBytes();
        }

        using var stats = StartStats(via, connection, dial.AuthorityDisplay);

        using var stall = connection.Server.Config.WriteTimeout is { } writeTimeout
            ? new SendStallWatch(writeTimeout, static c => ((ClientConnection)c).Abort(ConnectionOutcome.WriteTimeout), connection)
            : null;
        var result = await DuplexRelay.RunAsync(client, upstream, connection.Counters, static c => c.Cut(), connection, stall);
        if (result == RelayResult.UpstreamFailed && upstream is TlsLeg { Alert: { } alert })
        {
            Log.UpstreamTlsAlert(logger, connection.Server.Name, config.Display, alert);
            return ConnectionOutcome.TlsUpstreamFailed;
        }

        if (result == RelayResult.ClientFailed && client is TlsLeg { Alert: { } clientAlert })
        {
            Log.ClientTlsAlert(logger, connection.Server.Name, connection.RemoteEndPoint?.ToString() ?? "-", clientAlert);
            return ConnectionOutcome.TlsClientFailed;
        }

        return Outcome(result);
    }

    /// <summary>The in-flight byte counts of <c>stats_interval</c>; null when the via has none.</summary>
    private Timer? StartStats(ViaConfig via, ClientConnection connection, string? target) =>
        via.StatsInterval is { } interval
            ? new Timer(static s => ((StatsTicker)s!).Tick(), new StatsTicker(logger, connection, target), interval, interval)
            : null;

    private static ConnectionOutcome Outcome(RelayResult result) => result switch
    {
        RelayResult.Completed => ConnectionOutcome.Completed,
        RelayResult.ClientFailed => ConnectionOutcome.ClientError,
        RelayResult.UpstreamFailed => ConnectionOutcome.UpstreamError,
        _ => ConnectionOutcome.Aborted,
    };

    private static async ValueTask<bool> TryWriteAsync(IConnectionLeg leg, ReadOnlyMemory<byte> data)
    {
        try
        {
            await leg.WriteAsync(data);
            return true;
        }
        catch (Exception e) when (LegErrors.IsTransport(e))
        {
            return false;
        }
    }

    private sealed class StatsTicker(ILogger logger, ClientConnection connection, string? target)
    {
        public void Tick() => Log.InFlight(logger, connection.Server.Name, connection.UpstreamAddress ?? "-", target ?? "(direct)", connection.Counters.FromClient, connection.Counters.ToClient);
    }
}
