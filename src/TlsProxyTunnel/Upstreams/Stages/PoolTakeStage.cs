using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Tls;
using TlsProxyTunnel.Upstreams.Pool;

namespace TlsProxyTunnel.Upstreams.Stages;

/// <summary>
/// <c>upstream.NAME.pool</c>: takes a connection the pool made ahead (TCP, CONNECT and TLS done) instead of
/// dialling; the connect, CONNECT and TLS stages are not composed for such an upstream.
/// </summary>
internal sealed class PoolTakeStage(UpstreamConfig upstream, ViaConfig via, ConnectionPool pool, ILogger logger) : IUpstreamStage
{
    public ConnectionPool Pool => pool;

    public async ValueTask<ConnectionOutcome?> RunAsync(UpstreamDial dial)
    {
        var connection = dial.Connection;
        var take = await pool.TakeAsync();
        switch (take.Status)
        {
            case PoolTakeStatus.TimedOut:
                connection.PoolUse = "none";
                Log.PoolWaitTimedOut(logger, connection.Server.Name, upstream.Display, (long)pool.Settings.WaitTimeout.TotalMilliseconds);
                return ConnectionOutcome.PoolWaitTimeout;
            case PoolTakeStatus.Full:
                connection.PoolUse = "none";
                Log.PoolFull(logger, connection.Server.Name, upstream.Display, pool.Settings.MaxWaiters);
                return ConnectionOutcome.PoolFull;
            case PoolTakeStatus.Closed:
                connection.PoolUse = "none";
                Log.PoolGone(logger, connection.Server.Name, upstream.Display);
                return connection.IsAborted ? ConnectionOutcome.Aborted : ConnectionOutcome.UpstreamUnreachable;
        }

        var pooled = take.Connection!;
        connection.PoolUse = take.Status == PoolTakeStatus.Hit ? "hit" : "wait";
        dial.Socket = pooled.Socket;
        dial.Authority = via.Target;
        dial.AuthorityDisplay = via.TargetDisplay;
        connection.AttachUpstream(pooled.Socket);
        connection.SetUpstreamAddress(pooled.RemoteEndPoint, via.Target is null ? null : via.TargetDisplay);
        if (pooled.Tls is { } tls)
        {
            connection.UpgradeUpstream(new TlsLeg(pooled.Socket, tls, pooled.Gate!, pooled.PendingRead));
            connection.UpstreamTlsVersion = pooled.TlsVersion;
        }

        // server_first: keep (or a via's bytes after CONNECT): the client gets them before anything else.
        dial.Leftover = pooled.Kept;
        return connection.IsAborted ? ConnectionOutcome.Aborted : null;
    }
}
