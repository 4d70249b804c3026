using Microsoft.Extensions.Logging;
using System.Net.Sockets;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Upstreams.Stages;

/// <summary>One connection's way to its upstream while the stages build it; each stage reads what the ones before it left.</summary>
internal sealed class UpstreamDial(ClientConnection connection, Route route, TimeSpan connectTimeout)
{
    public ClientConnection Connection { get; } = connection;

    public Route Route { get; } = route;

    /// <summary>The upstream's connect_timeout, else the via's: bounds the TCP connect and the TLS handshake together.</summary>
    public TimeSpan ConnectTimeout { get; } = connectTimeout;

    /// <summary>What the TCP connect used of <see cref="ConnectTimeout"/>; the TLS handshake gets the rest.</summary>
    public TimeSpan ConnectElapsed { get; set; }

    /// <summary>The CONNECT authority when a via is in effect; null for a direct upstream.</summary>
    public string? Authority { get; set; }

    /// <summary>The CONNECT request for <see cref="Authority"/> (built once per route for a static target).</summary>
    public ReadOnlyMemory<byte> ConnectRequest { get; set; }

    /// <summary><see cref="Authority"/> as safe to log.</summary>
    public string? AuthorityDisplay { get; set; }

    /// <summary>The connected socket (to the upstream, or to the proxy that tunnels to it).</summary>
    public Socket? Socket { get; set; }

    /// <summary>Bytes the upstream side sent that no stage consumed: the client gets them first.</summary>
    public ReadOnlyMemory<byte> Leftover { get; set; }

    /// <summary>
    /// Takes the result of a TCP connect that began at <paramref name="started"/> (a Stopwatch timestamp): the socket
    /// and address on success; otherwise counts and logs the failure. The stages that connect differ only in where to.
    /// </summary>
    public ConnectionOutcome? Connected(ConnectAttempt attempt, long started, string upstreamDisplay, UpstreamMetrics metrics, ILogger logger)
    {
        ConnectElapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        if (attempt.Socket is not { } socket)
        {
            metrics.OnConnectFailed();
            Log.UpstreamUnreachable(logger, Connection.Server.Name, upstreamDisplay, attempt.Error ?? "unknown error");
            return ConnectionOutcome.UpstreamUnreachable;
        }

        Socket = socket;
        Connection.AttachUpstream(socket, attempt.Engine);
        Connection.SetUpstreamAddress(attempt.EndPoint!, Authority is null ? null : AuthorityDisplay);
        return Connection.IsAborted ? ConnectionOutcome.Aborted : null;
    }
}

/// <summary>
/// One step of reaching an upstream (resolve and connect, CONNECT through a via, TLS; later a PROXY header,
/// a pool). Stages are composed per upstream and route when the snapshot is built, so adding one touches
/// neither the router nor the connection handler.
/// </summary>
internal interface IUpstreamStage
{
    /// <summary>Does this stage's job; null to go on, or the outcome the connection ends with (already logged).</summary>
    ValueTask<ConnectionOutcome?> RunAsync(UpstreamDial dial);
}
