using System.Diagnostics;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Upstreams.Stages;

/// <summary>
/// <c>address: original_dst</c>, in place of <see cref="TcpConnectStage"/>: connects to the client's original destination
/// (from netfilter or a PROXY header) within connect_timeout; there is no name to resolve.
/// </summary>
internal sealed class OriginalDestinationConnectStage(UpstreamConfig upstream, UpstreamMetrics metrics, ILogger logger) : IUpstreamStage
{
    public async ValueTask<ConnectionOutcome?> RunAsync(UpstreamDial dial)
    {
        var connection = dial.Connection;
        if (connection.OriginalDestination is not { } destination)
        {
            // A PROXY header with the LOCAL command (or UNKNOWN) names no destination.
            Log.OriginalDestinationMissing(logger, connection.Server.Name, upstream.Name, connection.RemoteEndPoint?.ToString() ?? "-");
            return ConnectionOutcome.NoOriginalDestination;
        }

        var started = Stopwatch.GetTimestamp();
        var attempt = await UpstreamConnector.ConnectAsync(destination, dial.ConnectTimeout);
        return dial.Connected(attempt, started, upstream.Display, metrics, logger);
    }
}
