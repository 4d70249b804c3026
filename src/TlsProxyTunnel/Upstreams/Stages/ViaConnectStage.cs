using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Upstreams.HttpConnect;

namespace TlsProxyTunnel.Upstreams.Stages;

/// <summary>Asks the via (an HTTP CONNECT proxy, the upstream just connected to) for a tunnel to the authority.</summary>
internal sealed class ViaConnectStage(UpstreamConfig upstream, ViaConfig via, ProxyMetrics metrics, ILogger logger) : IUpstreamStage
{
    public async ValueTask<ConnectionOutcome?> RunAsync(UpstreamDial dial)
    {
        var connection = dial.Connection;
        var tunnel = await ConnectTunnel.EstablishAsync(dial.Socket!, dial.ConnectRequest, via.EffectiveHandshakeTimeout, CancellationToken.None);
        if (tunnel.StatusCode > 0)
        {
            metrics.OnConnectStatus(tunnel.StatusCode);
        }

        if (tunnel.Status == ConnectTunnelStatus.Established)
        {
            // Server-first protocols may already have spoken; those bytes belong to whatever reads next.
            dial.Leftover = tunnel.Leftover;
            return null;
        }

        if (tunnel.Status == ConnectTunnelStatus.ProxyRefused)
        {
            Log.ProxyRefused(logger, connection.Server.Name, upstream.Display, dial.AuthorityDisplay!, tunnel.StatusCode, tunnel.Reason ?? "");
            return ConnectionOutcome.ProxyRefused;
        }

        metrics.OnConnectFailure(tunnel.Status.ToString().ToLowerInvariant());
        Log.ProxyFailed(logger, connection.Server.Name, upstream.Display, dial.AuthorityDisplay!, tunnel.Status.ToString());
        return ConnectionOutcome.ProxyFailed;
    }
}
