using System.Buffers;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Relay;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Upstreams.Health;

/// <summary>
/// A small HTTP/1.1 responder for probes: any path answers 200 OK, <c>/metrics</c> the Prometheus text,
/// <c>/ready</c> 200 or 503. Bounded head size and timeouts, so probes cannot pin connections.
/// </summary>
internal sealed class HealthUpstream(ProxyMetrics metrics, ReadinessState readiness) : IUpstream
{
    internal const int MaxHeadBytes = 8 * 1024;
    internal static readonly TimeSpan HeadTimeout = TimeSpan.FromSeconds(10);
    internal static readonly TimeSpan KeepAliveTimeout = TimeSpan.FromSeconds(5);

    public string Name => "health";

    public async ValueTask<ConnectionOutcome> ServeAsync(ClientConnection connection, Route route)
    {
        var socket = connection.Client;
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

            var firstRequest = true;
            while (true)
            {
                var outcome = HealthRequestParser.Parse(buffer.AsSpan(0, length), MaxHeadBytes, out var request);
                if (outcome == HealthParseOutcome.NeedMoreData)
                {
                    var timeout = length == 0 && !firstRequest ? KeepAliveTimeout : HeadTimeout;
                    using var deadline = new CancellationTokenSource(timeout);
                    int read;
                    try
                    {
                        read = await socket.ReceiveAsync(buffer.AsMemory(length, MaxHeadBytes - length), SocketFlags.None, deadline.Token);
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

                    connection.Counters.AddFromClient(read);
                    length += read;
                    continue;
                }

                if (outcome != HealthParseOutcome.Complete)
                {
                    var status = outcome == HealthParseOutcome.TooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request";
                    await RespondAsync(connection, status, "text/plain; charset=utf-8", "Bad Request\n", head: false, keepAlive: false);
                    return ConnectionOutcome.ClientError;
                }

                firstRequest = false;
                var keepAlive = request.KeepAlive && !request.HasBody;
                switch (request.Path)
                {
                    case HealthPath.Metrics:
                        await RespondAsync(connection, "200 OK", PrometheusTextWriter.ContentType, metrics.Render(), request.IsHead, keepAlive);
                        break;
                    case HealthPath.Ready when !readiness.IsReady:
                        await RespondAsync(connection, "503 Service Unavailable", "text/plain; charset=utf-8", "NOT READY", request.IsHead, keepAlive);
                        break;
                    default:
                        await RespondAsync(connection, "200 OK", "text/plain; charset=utf-8", request.Path == HealthPath.Ready ? "READY" : "OK", request.IsHead, keepAlive);
                        break;
                }

                if (!keepAlive)
                {
                    socket.Shutdown(SocketShutdown.Send);
                    return ConnectionOutcome.Completed;
                }

                // Pipelined requests may already be in the buffer.
                length -= request.HeadLength;
                buffer.AsSpan(request.HeadLength, length).CopyTo(buffer);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return connection.IsAborted ? ConnectionOutcome.Aborted : ConnectionOutcome.ClientError;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async ValueTask RespondAsync(ClientConnection connection, string status, string contentType, string body, bool head, bool keepAlive)
    {
        var bodyBytes = Encoding.UTF8.GetBytes(body);
        var text = $"HTTP/1.1 {status}\r\nContent-Type: {contentType}\r\nContent-Length: {bodyBytes.Length}\r\nCache-Control: no-store\r\nConnection: {(keepAlive ? "keep-alive" : "close")}\r\n\r\n";
        var headBytes = Encoding.ASCII.GetBytes(text);
        var response = head ? headBytes : [.. headBytes, .. bodyBytes];
        await DuplexRelay.SendAllAsync(connection.Client, response);
        connection.Counters.AddToClient(response.Length);
    }
}
