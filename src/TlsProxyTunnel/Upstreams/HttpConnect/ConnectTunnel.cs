using System.Buffers;
using System.Net.Sockets;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;

namespace TlsProxyTunnel.Upstreams.HttpConnect;

internal enum ConnectTunnelStatus
{
    /// <summary>2xx: the socket now carries the tunnel.</summary>
    Established,

    /// <summary>A well-formed response with a status other than 2xx (407, 403, 502, …).</summary>
    ProxyRefused,

    /// <summary>The proxy answered with something that is not an HTTP/1.x response.</summary>
    Malformed,

    /// <summary>The response header block exceeded the cap.</summary>
    TooLarge,

    /// <summary>The proxy closed the connection before the header block was complete.</summary>
    ProxyClosed,

    /// <summary>The whole exchange did not finish within the handshake timeout.</summary>
    Timeout,

    /// <summary>A socket error; see <see cref="ConnectTunnelResult.SocketError"/>.</summary>
    IoError,
}

/// <param name="Status">What happened.</param>
/// <param name="StatusCode">The proxy's status code when a status line was parsed, else 0.</param>
/// <param name="Reason">The reason phrase, printable ASCII only and at most 128 chars (safe to log); null when none was parsed.</param>
/// <param name="Leftover">Bytes the proxy sent after its header block: the upstream's first bytes, to send to the client first.</param>
/// <param name="SocketError">The socket error for <see cref="ConnectTunnelStatus.IoError"/>, else <see cref="SocketError.Success"/>.</param>
internal readonly record struct ConnectTunnelResult(
    ConnectTunnelStatus Status,
    int StatusCode,
    string? Reason,
    ReadOnlyMemory<byte> Leftover,
    SocketError SocketError)
{
    public bool IsEstablished => Status == ConnectTunnelStatus.Established;
}

/// <summary>Runs the HTTP CONNECT exchange on an already connected proxy socket.</summary>
/// <remarks>
/// Does not log (the caller knows the connection's context and logs once) and does not throw for
/// network errors: every failure is a <see cref="ConnectTunnelStatus"/>. Only the caller's own
/// cancellation surfaces as <see cref="OperationCanceledException"/>. After any outcome other than
/// <see cref="ConnectTunnelStatus.Established"/> the socket is in an unknown state and must be closed.
/// </remarks>
internal static class ConnectTunnel
{
    private const int MaxReasonChars = 128;

    public static ValueTask<ConnectTunnelResult> EstablishAsync(
        Socket proxy,
        string authority,
        IReadOnlyList<ProxyHeader> headers,
        TimeSpan handshakeTimeout,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(proxy);

        // Throws for CR/LF: a caller bug, not a network outcome.
        return EstablishAsync(proxy, ConnectRequestWriter.Build(authority, headers), handshakeTimeout, ct);
    }

    /// <param name="request">The whole request, from <see cref="ConnectRequestWriter.Build"/>: built once per route
    /// when its authority is static.</param>
    public static async ValueTask<ConnectTunnelResult> EstablishAsync(
        Socket proxy,
        ReadOnlyMemory<byte> request,
        TimeSpan handshakeTimeout,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(proxy);

        // The data path passes no token of its own: then a pooled deadline serves, not a linked source per connection.
        using var linked = ct.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(ct) : null;
        linked?.CancelAfter(handshakeTimeout);
        var deadline = linked is null ? Deadline.Start(handshakeTimeout) : default;
        var token = linked?.Token ?? deadline.Token;

        const int maxHeaderBytes = ConnectResponseParser.DefaultMaxHeaderBytes;
        var buffer = ArrayPool<byte>.Shared.Rent(maxHeaderBytes);
        try
        {
            var sent = 0;
            while (sent < request.Length)
            {
                sent += await proxy.SendAsync(request[sent..], SocketFlags.None, token);
            }

            var received = 0;
            while (true)
            {
                var n = await proxy.ReceiveAsync(buffer.AsMemory(received, maxHeaderBytes - received), SocketFlags.None, token);
                if (n == 0)
                {
                    // What arrived may already be recognisably wrong; that says more than "closed".
                    var partial = ConnectResponseParser.Parse(buffer.AsSpan(0, received), maxHeaderBytes, out _);
                    return Fail(partial == ConnectResponseOutcome.Malformed ? ConnectTunnelStatus.Malformed : ConnectTunnelStatus.ProxyClosed);
                }

                received += n;
                var data = buffer.AsSpan(0, received);
                switch (ConnectResponseParser.Parse(data, maxHeaderBytes, out var response))
                {
                    case ConnectResponseOutcome.NeedMoreData:
                        continue;
                    case ConnectResponseOutcome.Malformed:
                        return Fail(ConnectTunnelStatus.Malformed);
                    case ConnectResponseOutcome.TooLarge:
                        return Fail(ConnectTunnelStatus.TooLarge);
                    default:
                        var reason = SanitizeReason(data[response.Reason]);
                        if (!response.IsSuccess)
                        {
                            return new ConnectTunnelResult(ConnectTunnelStatus.ProxyRefused, response.StatusCode, reason, ReadOnlyMemory<byte>.Empty, SocketError.Success);
                        }

                        // Copied out because the pooled buffer goes back; this is rare and small.
                        var leftover = received > response.HeaderLength ? data[response.HeaderLength..].ToArray() : ReadOnlyMemory<byte>.Empty;
                        return new ConnectTunnelResult(ConnectTunnelStatus.Established, response.StatusCode, reason, leftover, SocketError.Success);
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Fail(ConnectTunnelStatus.Timeout);
        }
        catch (SocketException ex)
        {
            return new ConnectTunnelResult(ConnectTunnelStatus.IoError, 0, null, ReadOnlyMemory<byte>.Empty, ex.SocketErrorCode);
        }
        catch (ObjectDisposedException)
        {
            // The socket was closed under us (shutdown, client gone); same meaning as an aborted operation.
            return new ConnectTunnelResult(ConnectTunnelStatus.IoError, 0, null, ReadOnlyMemory<byte>.Empty, SocketError.OperationAborted);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (linked is null)
            {
                deadline.End();
            }
        }
    }

    private static ConnectTunnelResult Fail(ConnectTunnelStatus status) =>
        new(status, 0, null, ReadOnlyMemory<byte>.Empty, SocketError.Success);

    private static string SanitizeReason(ReadOnlySpan<byte> reason)
    {
        // The reason is proxy-controlled and goes into logs: printable ASCII only, bounded length.
        var length = Math.Min(reason.Length, MaxReasonChars);
        Span<char> chars = stackalloc char[length];
        for (var i = 0; i < length; i++)
        {
            var b = reason[i];
            chars[i] = b is >= 0x20 and <= 0x7E ? (char)b : '?';
        }

        return new string(chars);
    }
}
