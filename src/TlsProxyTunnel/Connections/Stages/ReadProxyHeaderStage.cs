using System.Buffers;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.ProxyProtocol;
using TlsProxyTunnel.Relay;

namespace TlsProxyTunnel.Connections.Stages;

/// <summary>
/// <c>proxy_protocol: accept | require</c>: reads a PROXY header (v1 or v2) from the client leg, within what is left
/// of client_hello_timeout. First of the stages on a plain or <c>tls: true</c> server (the header comes before the
/// ClientHello), after <see cref="TerminateTlsStage"/> on a <c>terminate_tls</c> server (the header is the first
/// application data, as ptw sends it). Bytes read past the header, or the client's bytes when it sent none and
/// that is accepted, are kept as <see cref="ClientConnection.InitialBytes"/> for the hello reader or the upstream.
/// </summary>
internal sealed class ReadProxyHeaderStage(ProxyProtocolAccept mode, ILogger logger) : IClientStage
{
    // Its reads complete at once while the client's bytes are there, but a header is at most 107 (v1) or 16 + 65 535
    // (v2) bytes, parsed without copying.
    public bool HoldsThread => false;

    // A v1 header and most v2 ones (addresses and a few TLVs) fit; the buffer grows as bytes arrive, never past
    // what the parser can still be undecided about (a v2 header's 16-bit length).
    private const int InitialBufferSize = 512;

    // Whatever the hello or the handshake left of client_hello_timeout, never less than this.
    private static readonly TimeSpan MinimumReadTime = TimeSpan.FromMilliseconds(100);

    public ProxyProtocolAccept Mode => mode;

    public async ValueTask<ConnectionOutcome?> RunAsync(ClientConnection connection)
    {
        var config = connection.Server.Config;
        var budget = config.ClientHelloTimeout - Stopwatch.GetElapsedTime(connection.StartTimestamp);
        using var deadline = new CancellationTokenSource(budget > MinimumReadTime ? budget : MinimumReadTime);
        var leg = connection.ClientLeg;
        byte[]? buffer = null;
        var length = 0;
        string reason;
        try
        {
            // Wait for data before renting, so a client that is slow to speak (a pooled ptw connection) holds no buffer.
            await leg.ReadAsync(Memory<byte>.Empty, deadline.Token);
            buffer = ArrayPool<byte>.Shared.Rent(InitialBufferSize);
            while (true)
            {
                if (length == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, ProxyProtocolParser.MaxV2Length));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await leg.ReadAsync(buffer.AsMemory(length), deadline.Token);
                if (read == 0)
                {
                    if (length == 0)
                    {
                        return Missing(connection, "the client closed without sending anything");
                    }

                    reason = "the client closed in the middle of the header";
                    break;
                }

                length += read;
                var parse = ProxyProtocolParser.Parse(buffer.AsSpan(0, length));
                if (parse.Status == ProxyProtocolStatus.NeedMoreData)
                {
                    continue;
                }

                if (parse.Status == ProxyProtocolStatus.Header)
                {
                    connection.ApplyProxyHeader(parse.Header!);
                    connection.Counters.AddFromClient(parse.Length);
                    Keep(connection, ref buffer, length, parse.Length);
                    if (logger.IsEnabled(LogLevel.Debug))
                    {
                        Log.ProxyHeaderRead(logger, connection.Server.Name, parse.Header!.Describe(), connection.PeerEndPoint?.ToString() ?? "-", connection.RemoteEndPoint?.ToString() ?? "-", connection.OriginalDestination?.ToString() ?? "-");
                    }

                    return null;
                }

                if (parse.Status == ProxyProtocolStatus.Absent && mode == ProxyProtocolAccept.Accept)
                {
                    // Not a PROXY header: the bytes are the client's own, for the hello reader or the upstream.
                    Keep(connection, ref buffer, length, 0);
                    return null;
                }

                reason = parse.Status == ProxyProtocolStatus.Absent ? "the first bytes are not a PROXY header (proxy_protocol: require)" : parse.Reason!;
                break;
            }
        }
        catch (Exception e) when (LegErrors.IsTransport(e))
        {
            if (connection.IsAborted)
            {
                return ConnectionOutcome.Aborted;
            }

            if (!deadline.IsCancellationRequested)
            {
                reason = length == 0 ? "the client reset the connection" : "the client reset the connection in the middle of the header";
            }
            else if (length == 0)
            {
                return Missing(connection, $"nothing within client_hello_timeout ({config.ClientHelloTimeout.TotalMilliseconds:0} ms)");
            }
            else
            {
                reason = $"incomplete at client_hello_timeout ({config.ClientHelloTimeout.TotalMilliseconds:0} ms)";
            }
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        Log.ProxyHeaderInvalid(logger, connection.Server.Name, connection.PeerEndPoint?.ToString() ?? "-", reason);
        return ConnectionOutcome.ProxyHeaderInvalid;
    }

    /// <summary>
    /// A client that sent nothing: with <c>accept</c> it goes on as if the server read no header (the hello reader
    /// then sees the same silence or close); with <c>require</c> it is closed, logged at debug level because
    /// idle pooled connections (ptw's TTL) and port probes end this way all day.
    /// </summary>
    private ConnectionOutcome? Missing(ClientConnection connection, string reason)
    {
        if (mode == ProxyProtocolAccept.Accept)
        {
            return null;
        }

        Log.ProxyHeaderMissing(logger, connection.Server.Name, connection.PeerEndPoint?.ToString() ?? "-", reason);
        return ConnectionOutcome.ProxyHeaderInvalid;
    }

    /// <summary>The bytes after the header move to the buffer's start and become the connection's initial bytes.</summary>
    private static void Keep(ClientConnection connection, ref byte[]? buffer, int length, int consumed)
    {
        var rest = length - consumed;
        if (rest == 0)
        {
            return;
        }

        // Overlapping ranges: Span.CopyTo copies as memmove does.
        buffer.AsSpan(consumed, rest).CopyTo(buffer);
        connection.SetInitialBytes(buffer, rest);
        buffer = null;
    }
}
