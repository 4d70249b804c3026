using System.Diagnostics;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Upstreams.Stages;

/// <summary>Resolves the upstream's address and connects to it (all addresses in turn, within connect_timeout).</summary>
internal sealed class TcpConnectStage(UpstreamConfig upstream, UpstreamConnector connector, UpstreamMetrics metrics, ILogger logger) : IUpstreamStage
{
    // Pooled: one per connection, and a burst of clients would otherwise leave one box each as garbage.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ConnectionOutcome?> RunAsync(UpstreamDial dial)
    {
        var started = Stopwatch.GetTimestamp();
        var attempt = await connector.ConnectAsync(upstream, dial.ConnectTimeout, dial.Connection.ClientEngine?.Loop);
        return dial.Connected(attempt, started, upstream.Display, metrics, logger);
    }
}
