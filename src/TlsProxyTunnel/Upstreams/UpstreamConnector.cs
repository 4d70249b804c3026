using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Engine.Linux;

namespace TlsProxyTunnel.Upstreams;

/// <summary>The socket connected to, or why there is none.</summary>
/// <param name="Engine">The socket as the Linux engine drives it, when the engine connected it.</param>
internal readonly record struct ConnectAttempt(Socket? Socket, IPEndPoint? EndPoint, string? Error, EngineSocket? Engine = null);

/// <summary>
/// Resolves an upstream and connects to its addresses in turn, all within one connect_timeout.
/// Each address gets a fair share of the time left, so one black-holed address cannot eat the whole budget.
/// </summary>
internal sealed class UpstreamConnector(IHostResolver resolver, AddressRotation rotation)
{
    /// <param name="loop">Connect on the Linux engine, with the socket registered on this loop; null for System.Net.Sockets.</param>
    // Pooled: one per connection, and a burst of clients would otherwise leave one box each as garbage.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ConnectAttempt> ConnectAsync(UpstreamConfig upstream, TimeSpan timeout, EpollLoop? loop = null)
    {
        var started = Stopwatch.GetTimestamp();
        IReadOnlyList<IPAddress> addresses;
        var budget = Deadline.Start(timeout);
        try
        {
            var resolved = await resolver.ResolveAsync(HostToResolve.Of(upstream), upstream.Family, budget.Token);
            if (!resolved.Succeeded)
            {
                return new ConnectAttempt(null, null, resolved.Error);
            }

            addresses = resolved.Addresses;
        }
        catch (OperationCanceledException)
        {
            return new ConnectAttempt(null, null, $"resolving the upstream took longer than connect_timeout ({timeout.TotalMilliseconds:0} ms)");
        }
        finally
        {
            budget.End();
        }

        if (addresses.Count == 0)
        {
            return new ConnectAttempt(null, null, "the upstream resolved to no usable address");
        }

        var start = rotation.NextStart(upstream.Host, addresses.Count);
        string? lastError = null;
        for (var i = 0; i < addresses.Count; i++)
        {
            var address = addresses[(start + i) % addresses.Count];
            var endPoint = new IPEndPoint(address, upstream.Port);
            var left = timeout - Stopwatch.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                lastError = $"connect_timeout ({timeout.TotalMilliseconds:0} ms) ran out";
                break;
            }

            var share = left / (addresses.Count - i);
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            var attempt = Deadline.Start(share);
            try
            {
                if (loop is not null)
                {
                    // Awaited here, on the socket's own wait: no state machine of the engine's per connect.
                    var engine = EngineSocket.StartConnect(socket, endPoint, loop, out var error);
                    if (engine is not null)
                    {
                        try
                        {
                            await engine.WaitConnectedAsync(attempt.Token);
                        }
                        catch (OperationCanceledException)
                        {
                            engine.Release();
                            throw;
                        }

                        error = engine.ConnectResult();
                        if (error == SocketError.Success)
                        {
                            return new ConnectAttempt(socket, endPoint, null, engine);
                        }

                        engine.Release();
                    }

                    lastError = $"connecting to {endPoint} failed: {error}";
                }
                else
                {
                    await socket.ConnectAsync(endPoint, attempt.Token);
                    return new ConnectAttempt(socket, endPoint, null);
                }
            }
            catch (OperationCanceledException)
            {
                lastError = $"connecting to {endPoint} timed out";
            }
            catch (SocketException e)
            {
                lastError = $"connecting to {endPoint} failed: {e.SocketErrorCode}";
            }
            finally
            {
                attempt.End();
            }

            socket.Dispose();
        }

        return new ConnectAttempt(null, null, lastError);
    }

    /// <summary>Connects to one address known already (an original destination: nothing to resolve) within <paramref name="timeout"/>.</summary>
    public static async ValueTask<ConnectAttempt> ConnectAsync(IPEndPoint endPoint, TimeSpan timeout)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var attempt = new CancellationTokenSource(timeout);
        try
        {
            await socket.ConnectAsync(endPoint, attempt.Token);
            return new ConnectAttempt(socket, endPoint, null);
        }
        catch (OperationCanceledException)
        {
            socket.Dispose();
            return new ConnectAttempt(null, null, $"connecting to {endPoint} timed out after connect_timeout ({timeout.TotalMilliseconds:0} ms)");
        }
        catch (SocketException e)
        {
            socket.Dispose();
            return new ConnectAttempt(null, null, $"connecting to {endPoint} failed: {e.SocketErrorCode}");
        }
    }
}
