using System.Buffers;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Diagnostics.Status;
using TlsProxyTunnel.Relay;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Upstreams.Health;

/// <summary>
/// A small HTTP/1.1 responder for probes: any path answers 200 OK, <c>/metrics</c> the Prometheus text,
/// <c>/ready</c> 200 or 503, <c>/status</c> the status page (HTML, or JSON with <c>?format=json</c>). Bounded so no client can hold a connection it does not use: the server's
/// <c>client_hello_timeout</c> is the deadline for each whole request head (from the connection's start for
/// the first, from its first byte for the next ones) and for writing each response; an idle keep-alive
/// connection waits for its next request at most <see cref="KeepAliveTimeout"/> (or that deadline if shorter).
/// </summary>
internal sealed class HealthUpstream(ProxyMetrics metrics, ReadinessState readiness, StatusCollector? status = null) : IUpstream
{
    internal const int MaxHeadBytes = 8 * 1024;
    internal static readonly TimeSpan KeepAliveTimeout = TimeSpan.FromSeconds(5);


    public string Name => "health";

    public bool ServesInline => true;

    public async ValueTask<ConnectionOutcome> ServeAsync(ClientConnection connection, Route route)
    {
        // The client leg: the socket, or the TLS stream behind terminate_tls (health over HTTPS).
        var leg = connection.ClientLeg;
        var headTimeout = connection.Server.Config.ClientHelloTimeout;
        var idleTimeout = headTimeout < KeepAliveTimeout ? headTimeout : KeepAliveTimeout;

        // One timer per connection, re-armed per phase (never per read): a byte now and then cannot push a
        // deadline back, and a stalled write ends the connection like a stalled head.
        using var deadline = new CancellationTokenSource(headTimeout);
        var buffer = ArrayPool<byte>.Shared.Rent(MaxHeadBytes);
        try
        {
            var length = 0;
            var initial = connection.InitialBytes;
            if (!initial.IsEmpty)
            {
                var take = Math.Min(initial.Length, MaxHeadBytes);
                initial.Span[..take].CopyTo(buffer);
                length = take;
                connection.Counters.AddFromClient(initial.Length);
                connection.ReleaseInitialBytes();
            }

            var idle = false;
            while (true)
            {
                var outcome = HealthRequestParser.Parse(buffer.AsSpan(0, length), MaxHeadBytes, out var request);
                if (outcome == HealthParseOutcome.NeedMoreData)
                {
                    int read;
                    try
                    {
                        read = await leg.ReadAsync(buffer.AsMemory(length, MaxHeadBytes - length), deadline.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        // An idle keep-alive connection ends quietly; a half-sent head is the client's fault.
                        return length == 0 ? ConnectionOutcome.Completed : ConnectionOutcome.ClientError;
                    }

                    if (read == 0)
                    {
                        return length == 0 ? ConnectionOutcome.Completed : ConnectionOutcome.ClientError;
                    }

                    if (idle)
                    {
                        // The next request has begun: its head has the full deadline from this first byte.
                        idle = false;
                        deadline.CancelAfter(headTimeout);
                    }

                    connection.Counters.AddFromClient(read);
                    length += read;
                    continue;
                }

                deadline.CancelAfter(headTimeout);
                if (outcome != HealthParseOutcome.Complete)
                {
                    var status = outcome == HealthParseOutcome.TooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request";
                    await RespondAsync(connection, status, "text/plain; charset=utf-8", "Bad Request\n", head: false, keepAlive: false, deadline.Token);
                    return ConnectionOutcome.ClientError;
                }

                var keepAlive = request.KeepAlive && !request.HasBody;
                var sent = request.Path switch
                {
                    HealthPath.Metrics => await RespondAsync(connection, "200 OK", PrometheusTextWriter.ContentType, metrics.Render(), request.IsHead, keepAlive, deadline.Token),
                    HealthPath.Status when status is null => await RespondAsync(connection, "404 Not Found", "text/plain; charset=utf-8", "no status page here", request.IsHead, keepAlive, deadline.Token),
                    HealthPath.Status when request.Json => await RespondAsync(connection, "200 OK", StatusJsonWriter.ContentType, StatusJsonWriter.Write(status.Collect()), request.IsHead, keepAlive, deadline.Token),
                    HealthPath.Status => await RespondAsync(connection, "200 OK", StatusHtmlWriter.ContentType, Encoding.UTF8.GetBytes(StatusHtmlWriter.Write(status.Collect())), request.IsHead, keepAlive, deadline.Token, HtmlHeaders),
                    HealthPath.Ready when !readiness.IsReady => await RespondAsync(connection, "503 Service Unavailable", "text/plain; charset=utf-8", "NOT READY", request.IsHead, keepAlive, deadline.Token),
                    _ => await RespondAsync(connection, "200 OK", "text/plain; charset=utf-8", request.Path == HealthPath.Ready ? "READY" : "OK", request.IsHead, keepAlive, deadline.Token),
                };

                if (!sent)
                {
                    // The client stopped reading: its answer could not be written within the deadline.
                    return ConnectionOutcome.ClientError;
                }

                if (!keepAlive)
                {
                    await leg.ShutdownSendAsync();
                    return ConnectionOutcome.Completed;
                }

                // Pipelined requests may already be in the buffer: the next head's deadline starts now.
                length -= request.HeadLength;
                buffer.AsSpan(request.HeadLength, length).CopyTo(buffer);
                idle = length == 0;
                deadline.CancelAfter(idle ? idleTimeout : headTimeout);
            }
        }
        catch (Exception e) when (LegErrors.IsTransport(e))
        {
            return connection.IsAborted ? ConnectionOutcome.Aborted : ConnectionOutcome.ClientError;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // The status page is only inline CSS: forbid everything else, and let no browser guess another type.
    private const string HtmlHeaders = $"Content-Security-Policy: {StatusHtmlWriter.ContentSecurityPolicy}\r\nX-Content-Type-Options: nosniff\r\n";

    private static ValueTask<bool> RespondAsync(ClientConnection connection, string status, string contentType, string body, bool head, bool keepAlive, CancellationToken deadline) =>
        RespondAsync(connection, status, contentType, Encoding.UTF8.GetBytes(body), head, keepAlive, deadline);

    /// <summary>Writes one response; false when the deadline passed first.</summary>
    private static async ValueTask<bool> RespondAsync(ClientConnection connection, string status, string contentType, byte[] bodyBytes, bool head, bool keepAlive, CancellationToken deadline, string extraHeaders = "")
    {
        var text = $"HTTP/1.1 {status}\r\nContent-Type: {contentType}\r\nContent-Length: {bodyBytes.Length}\r\nCache-Control: no-store\r\n{extraHeaders}Connection: {(keepAlive ? "keep-alive" : "close")}\r\n\r\n";
        var headBytes = Encoding.ASCII.GetBytes(text);
        ReadOnlyMemory<byte> response = head ? headBytes : [.. headBytes, .. bodyBytes];
        try
        {
            // A leg's write takes no token: past the deadline the write is left behind (the caller then closes the
            // connection, which ends it) and the client is told nothing more.
            await connection.ClientLeg.WriteAsync(response).AsTask().WaitAsync(deadline);
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        connection.Counters.AddToClient(response.Length);
        return true;
    }
}
