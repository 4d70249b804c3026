using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Relay;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Upstreams;

namespace TlsProxyTunnel.Datagrams;

/// <summary>
/// A <c>udp://</c> upstream as a <c>decapsulate: uotp</c> server reaches it (uotp-server): the client's first 16
/// bytes name its session, then each frame it sends is one datagram on the session's UDP socket, and datagrams
/// coming back are framed onto whichever of the session's connections takes them first.
/// </summary>
internal sealed class UotpServerUpstream(UpstreamConfig upstream, UotpServerSessions sessions, DatagramServerMetrics metrics, ILogger logger) : IUpstream
{
    public string Name => upstream.Name;

    public bool ServesInline => false;

    public UotpServerSessions Sessions => sessions;

    public async ValueTask<ConnectionOutcome> ServeAsync(ClientConnection connection, Route route)
    {
        var server = connection.Server;
        var client = connection.RemoteEndPoint?.ToString() ?? "-";
        var leg = connection.ClientLeg;

        // Bytes a client stage read ahead (a PROXY header's tail) are the start of the session id.
        using var reader = new FrameReader(connection.InitialBytes.Span);
        if (!connection.InitialBytes.IsEmpty)
        {
            connection.Counters.AddFromClient(connection.InitialBytes.Length);
            connection.ReleaseInitialBytes();
        }

        var idBytes = new byte[UotpFrames.SessionIdLength];
        using (var deadline = new CancellationTokenSource(server.Config.ClientHelloTimeout))
        {
            try
            {
                if (!await reader.ReadExactAsync(leg, idBytes, deadline.Token))
                {
                    Log.UotpNoSessionId(logger, server.Name, client, "the connection ended first");
                    return ConnectionOutcome.FramingInvalid;
                }
            }
            catch (Exception e) when (LegErrors.IsTransport(e))
            {
                if (connection.IsAborted)
                {
                    return ConnectionOutcome.Aborted;
                }

                Log.UotpNoSessionId(logger, server.Name, client, deadline.IsCancellationRequested ? $"none within client_hello_timeout ({server.Config.ClientHelloTimeout.TotalSeconds:0.###} s)" : e.Message);
                return ConnectionOutcome.FramingInvalid;
            }
        }

        var session = await sessions.JoinAsync(new Guid(idBytes, bigEndian: true), server.Name, metrics);
        if (session is null)
        {
            return ConnectionOutcome.UpstreamUnreachable;
        }

        connection.SetUpstreamAddress(session.Destination!, null);
        session.OnConnectionJoined();
        metrics.OnConnectionOpened();
        using var replies = new CancellationTokenSource();
        var downstream = RepliesAsync(session, connection, replies.Token);
        try
        {
            var max = session.Destination!.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? UotpFrames.MaxFrame : UotpFrames.MaxIpv4Datagram;
            var before = 0L;
            while (true)
            {
                FrameRead read;
                try
                {
                    read = await reader.ReadFrameAsync(leg, max, CancellationToken.None);
                }
                catch (Exception e) when (LegErrors.IsTransport(e))
                {
                    return connection.IsAborted ? connection.AbortReason : ConnectionOutcome.ClientError;
                }

                connection.Counters.AddFromClient((int)(reader.BytesRead - before));
                before = reader.BytesRead;
                switch (read)
                {
                    case FrameRead.Frame:
                        session.Send(reader.Current.Span);
                        continue;
                    case FrameRead.End:
                        return ConnectionOutcome.Completed;
                    case FrameRead.TooLong:
                        metrics.OnDrop(DatagramDrop.TooLong);
                        Log.UotpFrameTooLong(logger, server.Name, client, max);
                        return ConnectionOutcome.FramingInvalid;
                    default:
                        return ConnectionOutcome.ClientError;
                }
            }
        }
        finally
        {
            await replies.CancelAsync();
            await downstream;
            metrics.OnConnectionClosed();
            sessions.Leave(session);
        }
    }

    private static async Task RepliesAsync(UotpServerSession session, ClientConnection connection, CancellationToken ct)
    {
        using var writer = new FrameWriter();
        try
        {
            await writer.RunAsync(
                session.Replies,
                connection.ClientLeg,
                static (state, payload) =>
                {
                    state.connection.Counters.AddToClient(UotpFrames.HeaderLength + payload);
                    state.session.OnReplySent(payload);
                },
                (session, connection),
                ct);
        }
        catch (Exception e) when (LegErrors.IsTransport(e))
        {
            // Leaving, or the client stopped taking replies: a connection that cannot write is cut, so that its read
            // side (perhaps waiting on a half-open socket) ends too.
            if (!ct.IsCancellationRequested)
            {
                connection.Abort(ConnectionOutcome.ClientError);
            }
        }
    }
}
