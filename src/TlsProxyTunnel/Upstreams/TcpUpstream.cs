using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Relay;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Upstreams.HttpConnect;

namespace TlsProxyTunnel.Upstreams;

/// <summary>
/// A <c>tcp://</c> upstream, reached directly or through an HTTP CONNECT proxy (the route's via):
/// connect, replay the bytes already read, relay both ways.
/// </summary>
internal sealed class TcpUpstream(UpstreamConfig config, UpstreamConnector connector, ProxyMetrics metrics, ILogger logger) : IUpstream
{
    public string Name => config.Name;

    public UpstreamConfig Config => config;

    public async ValueTask<ConnectionOutcome> ServeAsync(ClientConnection connection, Route route)
    {
        var via = route.Via;
        string? authority = null;
        string? authorityDisplay = null;
        if (via.UseSniAsTarget && connection.Sni is { } sni)
        {
            // The SNI was validated as a host name when read, so it cannot carry CR/LF, ':' or spaces.
            authority = $"{sni}:{via.TargetPort}";
            authorityDisplay = authority;
        }
        else if (via.Target is not null)
        {
            authority = via.Target;
            authorityDisplay = via.TargetDisplay ?? "<target>";
        }
        else if (via.UseSniAsTarget)
        {
            // Never send raw client bytes to a proxy port: that is what tls-proxy-tunnel does, and it misroutes.
            Log.NoConnectTarget(logger, config.Name, connection.Server.Name);
            return ConnectionOutcome.NoTarget;
        }

        var attempt = await connector.ConnectAsync(config, via.ConnectTimeout);
        if (attempt.Socket is not { } upstream)
        {
            metrics.OnUpstreamConnectFailure(config.Name);
            Log.UpstreamUnreachable(logger, connection.Server.Name, config.Display, attempt.Error ?? "unknown error");
            return ConnectionOutcome.UpstreamUnreachable;
        }

        connection.AttachUpstream(upstream);
        connection.UpstreamAddress = authority is null ? attempt.EndPoint!.ToString() : $"{attempt.EndPoint} CONNECT {authorityDisplay}";
        if (connection.IsAborted)
        {
            return ConnectionOutcome.Aborted;
        }

        if (authority is not null)
        {
            var tunnel = await ConnectTunnel.EstablishAsync(upstream, authority, via.Headers, via.EffectiveHandshakeTimeout, CancellationToken.None);
            if (tunnel.StatusCode > 0)
            {
                metrics.OnConnectStatus(tunnel.StatusCode);
            }

            if (tunnel.Status != ConnectTunnelStatus.Established)
            {
                if (tunnel.Status == ConnectTunnelStatus.ProxyRefused)
                {
                    Log.ProxyRefused(logger, connection.Server.Name, config.Display, authorityDisplay!, tunnel.StatusCode, tunnel.Reason ?? "");
                    return ConnectionOutcome.ProxyRefused;
                }

                metrics.OnConnectFailure(tunnel.Status.ToString().ToLowerInvariant());
                Log.ProxyFailed(logger, connection.Server.Name, config.Display, authorityDisplay!, tunnel.Status.ToString());
                return ConnectionOutcome.ProxyFailed;
            }

            if (!tunnel.Leftover.IsEmpty)
            {
                // Server-first protocols may already have spoken; those bytes belong to the client.
                if (!await TrySendAsync(connection.Client, tunnel.Leftover))
                {
                    return connection.IsAborted ? ConnectionOutcome.Aborted : ConnectionOutcome.ClientError;
                }

                connection.Counters.AddToClient(tunnel.Leftover.Length);
            }
        }

        if (!connection.InitialBytes.IsEmpty)
        {
            if (!await TrySendAsync(upstream, connection.InitialBytes))
            {
                return connection.IsAborted ? ConnectionOutcome.Aborted : ConnectionOutcome.UpstreamError;
            }

            connection.Counters.AddFromClient(connection.InitialBytes.Length);
            connection.ReleaseInitialBytes();
        }

        using var stats = via.StatsInterval is { } interval
            ? new Timer(static s => ((StatsTicker)s!).Tick(), new StatsTicker(logger, connection, authorityDisplay), interval, interval)
            : null;

        var result = await DuplexRelay.RunAsync(connection.Client, upstream, connection.Counters, connection.Abort);
        return result switch
        {
            RelayResult.Completed => ConnectionOutcome.Completed,
            RelayResult.ClientFailed => ConnectionOutcome.ClientError,
            RelayResult.UpstreamFailed => ConnectionOutcome.UpstreamError,
            _ => ConnectionOutcome.Aborted,
        };
    }

    private static async ValueTask<bool> TrySendAsync(Socket socket, ReadOnlyMemory<byte> data)
    {
        try
        {
            await DuplexRelay.SendAllAsync(socket, data);
            return true;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private sealed class StatsTicker(ILogger logger, ClientConnection connection, string? target)
    {
        public void Tick() => Log.InFlight(logger, connection.Server.Name, connection.UpstreamAddress ?? "-", target ?? "(direct)", connection.Counters.FromClient, connection.Counters.ToClient);
    }
}
