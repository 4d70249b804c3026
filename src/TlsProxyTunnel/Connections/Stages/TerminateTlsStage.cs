using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Relay;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Connections.Stages;

/// <summary>
/// <c>terminate_tls</c>: runs the server handshake after the hello was read and routed. The hello bytes already
/// read go into the handshake first, then the socket is read: nothing lost, nothing read twice.
/// </summary>
internal sealed class TerminateTlsStage(ServerTlsTerminator terminator, ProxyMetrics metrics, ILogger logger) : IClientStage
{
    private static readonly TimeSpan MinimumHandshakeTime = TimeSpan.FromMilliseconds(100);

    public bool HoldsThread => true;

    public async ValueTask<ConnectionOutcome?> RunAsync(ClientConnection connection)
    {
        var inner = new PrefixedStream(connection.Client, connection.InitialBytes);
        var stream = new SslStream(inner, leaveInnerStreamOpen: false);
        var check = new ClientCertificateCheck(terminator.Settings.ClientCertificate);

        // client_hello_timeout bounds the client's whole opening, hello and handshake, from the accept on.
        var budget = connection.Server.Config.ClientHelloTimeout - Stopwatch.GetElapsedTime(connection.StartTimestamp);
        using var deadline = new CancellationTokenSource(budget > MinimumHandshakeTime ? budget : MinimumHandshakeTime);
        SslServerAuthenticationOptions options;
        try
        {
            options = terminator.CreateOptions(connection.Sni, check, (connection.LocalEndPoint as System.Net.IPEndPoint)?.Address);
        }
        catch (CryptographicException e)
        {
            // Only minting can fail here (the CA's key refused to sign): that client is closed, not the process.
            await stream.DisposeAsync();
            metrics.TlsHandshakes.On(TlsSide.Client, TlsHandshakeResult.Error);
            Log.ClientTlsFailed(logger, connection.Server.Name, connection.RemoteEndPoint?.ToString() ?? "-", connection.Sni ?? "-", TlsHandshakeResults.Label(TlsHandshakeResult.Error), $"no certificate could be minted: {e.Message}");
            return ConnectionOutcome.TlsClientFailed;
        }

        try
        {
            await stream.AuthenticateAsServerAsync(options, deadline.Token);
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
                    ? (TlsHandshakeResult.Timeout, $"no handshake within client_hello_timeout ({connection.Server.Config.ClientHelloTimeout.TotalMilliseconds:0} ms)")
                    : TlsHandshakeResults.Classify(e, certificateSeen: false);
            metrics.TlsHandshakes.On(TlsSide.Client, result);
            if (result == TlsHandshakeResult.Error && LegErrors.IsPeerGone(e))
            {
                // Probes that close right after their side of the handshake (load-balancer TLS checks, openssl
                // s_time) do this all day: no check failed, so no warning per probe.
                Log.ClientLeftHandshake(logger, connection.Server.Name, connection.RemoteEndPoint?.ToString() ?? "-", connection.Sni ?? "-", reason);
                return ConnectionOutcome.TlsClientFailed;
            }

            Log.ClientTlsFailed(logger, connection.Server.Name, connection.RemoteEndPoint?.ToString() ?? "-", connection.Sni ?? "-", TlsHandshakeResults.Label(result), reason);
            return ConnectionOutcome.TlsClientFailed;
        }

        metrics.TlsHandshakes.On(TlsSide.Client, TlsHandshakeResult.Ok);

        // The hello went into the handshake: the upstream must not get it again. Its pooled buffer goes back
        // now unless the stream still holds unread bytes of it (then at close).
        connection.ConsumeInitialBytes(release: inner.PrefixConsumed);
        connection.UpgradeClient(new TlsLeg(connection.Client, stream, inner.Gate));
        connection.ClientTls = TlsSessionInfo.From(stream);
        return null;
    }
}
