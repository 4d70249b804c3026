using System.Diagnostics;
using System.Net.Security;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Relay;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Upstreams.Stages;

/// <summary>Originates TLS over the upstream socket (through the via's tunnel when there is one): <c>upstream.NAME.tls</c>.</summary>
internal sealed class TlsOriginateStage(UpstreamConfig upstream, UpstreamTlsClient client, ProxyMetrics metrics, ILogger logger) : IUpstreamStage
{
    // Whatever TCP connect left over, never less than this: a connect that used the budget up still gets a try.
    private static readonly TimeSpan MinimumHandshakeTime = TimeSpan.FromMilliseconds(100);

    public async ValueTask<ConnectionOutcome?> RunAsync(UpstreamDial dial)
    {
        var connection = dial.Connection;
        var socket = dial.Socket!;

        // Bytes a proxy sent after its CONNECT response are the start of the server's handshake.
        var inner = new PrefixedStream(socket, dial.Leftover);
        dial.Leftover = ReadOnlyMemory<byte>.Empty;
        var stream = new SslStream(inner, leaveInnerStreamOpen: false);
        var host = client.TargetHost(connection.Sni, dial.Authority);
        var hostDisplay = client.TargetHostDisplay(connection.Sni, dial.AuthorityDisplay, upstream.Display);
        var check = new UpstreamCertificateCheck(client.Settings, hostDisplay);
        var budget = dial.ConnectTimeout - dial.ConnectElapsed;
        var started = Stopwatch.GetTimestamp();
        using var deadline = new CancellationTokenSource(budget > MinimumHandshakeTime ? budget : MinimumHandshakeTime);
        try
        {
            await stream.AuthenticateAsClientAsync(client.CreateOptions(host, check), deadline.Token);
        }
        catch (Exception e) when (LegErrors.IsTransport(e))
        {
            await stream.DisposeAsync();
            if (connection.IsAborted)
            {
                return ConnectionOutcome.Aborted;
            }

            var (result, reason) = check.Result != TlsHandshakeResult.Ok
                ? (check.Result, check.Reason!)
                : deadline.IsCancellationRequested
                    ? (TlsHandshakeResult.Timeout, $"no handshake within connect_timeout ({Stopwatch.GetElapsedTime(started).TotalMilliseconds + dial.ConnectElapsed.TotalMilliseconds:0} ms)")
                    : TlsHandshakeResults.Classify(e, check.CertificateSeen);
            metrics.TlsHandshakes.On(TlsSide.Upstream, result);
            Log.UpstreamTlsFailed(logger, connection.Server.Name, upstream.Display, hostDisplay, TlsHandshakeResults.Label(result), reason);
            return ConnectionOutcome.TlsUpstreamFailed;
        }

        metrics.TlsHandshakes.On(TlsSide.Upstream, TlsHandshakeResult.Ok);
        connection.UpgradeUpstream(new TlsLeg(socket, stream, inner.Gate));
        connection.UpstreamTlsVersion = TlsSessionInfo.VersionName(stream);
        return null;
    }
}
