using System.Diagnostics;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Upstreams.Stages;

/// <summary>Resolves the upstream's address and connects to it (all addresses in turn, within connect_timeout).</summary>
internal sealed class TcpConnectStage(UpstreamConfig upstream, UpstreamConnector connector, UpstreamMetrics metrics, ILogger logger) : IUpstreamStage
{
    public async ValueTask<ConnectionOutcome?> RunAsync(UpstreamDial dial)
    {
        var connection = dial.Connection;
        var started = Stopwatch.GetTimestamp();
        var attempt = await connector.ConnectAsync(upstream, dial.ConnectTimeout);
        dial.ConnectElapsed = Stopwatch.GetElapsedTime(started);
        if (attempt.Socket is not { } socket)
        {
            metrics.OnConnectFailed();
            Log.UpstreamUnreachable(logger, connection.Server.Name, upstream.Display, attempt.Error ?? "unknown error");
            return ConnectionOutcome.UpstreamUnreachable;
        }

        dial.Socket = socket;
        connection.AttachUpstream(socket);
        connection.SetUpstreamAddress(attempt.EndPoint!, dial.Authority is null ? null : dial.AuthorityDisplay);
        return connection.IsAborted ? ConnectionOutcome.Aborted : null;
    }
}
