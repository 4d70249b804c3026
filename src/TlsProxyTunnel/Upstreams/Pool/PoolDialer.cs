using System.Diagnostics;
using System.Net.Security;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Relay;
using TlsProxyTunnel.Tls;
using TlsProxyTunnel.Upstreams.HttpConnect;

namespace TlsProxyTunnel.Upstreams.Pool;

/// <summary>
/// Dials for a pool what the upstream stages dial for one client: resolve and connect, CONNECT through a via with
/// a static target, TLS per <c>upstream.NAME.tls</c>, all within connect_timeout. No client exists yet, so nothing
/// here may depend on one (the config refuses <c>server_name: from_client</c> and <c>use_sni_as_target</c>).
/// </summary>
internal sealed class PoolDialer(UpstreamConfig upstream, ViaConfig via, UpstreamConnector connector, UpstreamTlsClient? tls, ProxyMetrics metrics) : IPoolDialer
{
    private static readonly TimeSpan MinimumHandshakeTime = TimeSpan.FromMilliseconds(100);

    public string Display => upstream.Display;

    public async ValueTask<PoolDial> DialAsync(CancellationToken stop)
    {
        var timeout = upstream.ConnectTimeout ?? via.ConnectTimeout;
        var started = Stopwatch.GetTimestamp();
        var attempt = await connector.ConnectAsync(upstream, timeout);
        if (attempt.Socket is not { } socket)
        {
            return new PoolDial(null, attempt.Error ?? "unknown error");
        }

        var leftover = ReadOnlyMemory<byte>.Empty;
        if (via.Target is { } target)
        {
            ConnectTunnelResult tunnel;
            try
            {
                tunnel = await ConnectTunnel.EstablishAsync(socket, target, via.Headers, via.EffectiveHandshakeTimeout, stop);
            }
            catch (OperationCanceledException)
            {
                socket.Dispose();
                return new PoolDial(null, "the pool was closed");
            }

            if (tunnel.StatusCode > 0)
            {
                metrics.OnConnectStatus(tunnel.StatusCode);
            }

            if (!tunnel.IsEstablished)
            {
                socket.Dispose();
                return new PoolDial(null, tunnel.Status == ConnectTunnelStatus.ProxyRefused
                    ? $"CONNECT {via.TargetDisplay} refused: {tunnel.StatusCode} {tunnel.Reason}"
                    : $"CONNECT {via.TargetDisplay} failed: {tunnel.Status}");
            }

            leftover = tunnel.Leftover;
        }

        if (tls is null)
        {
            return new PoolDial(new PooledConnection(socket, null, attempt.EndPoint!, null, leftover), null);
        }

        // Bytes a proxy sent after its CONNECT response are the start of the server's handshake.
        var inner = new PrefixedStream(socket, leftover);
        var stream = new SslStream(inner, leaveInnerStreamOpen: false);
        var host = tls.TargetHost(clientSni: null, via.Target);
        var hostDisplay = tls.TargetHostDisplay(clientSni: null, via.TargetDisplay, upstream.Display);
        var check = new UpstreamCertificateCheck(tls.Settings, hostDisplay);
        var budget = timeout - Stopwatch.GetElapsedTime(started);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stop);
        deadline.CancelAfter(budget > MinimumHandshakeTime ? budget : MinimumHandshakeTime);
        try
        {
            await stream.AuthenticateAsClientAsync(tls.CreateOptions(host, check), deadline.Token);
        }
        catch (Exception e) when (LegErrors.IsTransport(e))
        {
            await stream.DisposeAsync();
            socket.Dispose();
            if (stop.IsCancellationRequested)
            {
                return new PoolDial(null, "the pool was closed");
            }

            var (result, reason) = check.Result != TlsHandshakeResult.Ok
                ? (check.Result, check.Reason!)
                : deadline.IsCancellationRequested
                    ? (TlsHandshakeResult.Timeout, $"no handshake within connect_timeout ({timeout.TotalMilliseconds:0} ms)")
                    : TlsHandshakeResults.Classify(e, check.CertificateSeen);
            metrics.TlsHandshakes.On(TlsSide.Upstream, result);
            return new PoolDial(null, $"TLS handshake (server name {hostDisplay}) failed: {TlsHandshakeResults.Label(result)}: {reason}");
        }

        metrics.TlsHandshakes.On(TlsSide.Upstream, TlsHandshakeResult.Ok);
        return new PoolDial(new PooledConnection(socket, stream, attempt.EndPoint!, TlsSessionInfo.VersionName(stream), ReadOnlyMemory<byte>.Empty, inner.Gate), null);
    }
}
