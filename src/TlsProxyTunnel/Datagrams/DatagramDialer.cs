using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Relay;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Datagrams;

/// <summary>A connected leg or socket, or why there is none.</summary>
internal readonly record struct DialResult<T>(T? Value, IPEndPoint? EndPoint, string? Error)
    where T : class;

/// <summary>
/// Opens what datagram sessions send on: connected UDP sockets for <c>udp://</c> upstreams, TCP (and TLS)
/// connections for <c>encapsulate</c> ones, with the upstream's <c>so_mark</c>, and with <c>resolve_once</c>
/// its addresses from the first answer for good.
/// </summary>
internal sealed class DatagramDialer(UpstreamConfig upstream, IHostResolver resolver, UpstreamTlsClient? tls, TlsHandshakeMetrics handshakes)
{
    private IReadOnlyList<IPAddress>? _resolvedOnce;

    public UpstreamConfig Upstream => upstream;

    /// <summary>connect_timeout, else the default every upstream has (a via's 30 s).</summary>
    public TimeSpan ConnectTimeout => upstream.ConnectTimeout ?? ViaConfig.Direct.ConnectTimeout;

    private async ValueTask<(IReadOnlyList<IPAddress>? Addresses, string? Error)> ResolveAsync(CancellationToken ct)
    {
        if (_resolvedOnce is { } kept)
        {
            return (kept, null);
        }

        var resolved = await resolver.ResolveAsync(HostToResolve.Of(upstream), upstream.Family, ct);
        if (!resolved.Succeeded)
        {
            return (null, resolved.Error);
        }

        if (upstream.ResolveOnce)
        {
            _resolvedOnce = resolved.Addresses;
        }

        return (resolved.Addresses, null);
    }

    /// <summary>A UDP socket connected to the upstream: replies come only from there, and each session has its own port.</summary>
    public async ValueTask<DialResult<Socket>> ConnectUdpAsync(CancellationToken ct)
    {
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
        budget.CancelAfter(ConnectTimeout);
        (IReadOnlyList<IPAddress>? Addresses, string? Error) resolved;
        try
        {
            resolved = await ResolveAsync(budget.Token);
        }
        catch (OperationCanceledException)
        {
            return new(null, null, "resolving took longer than connect_timeout");
        }

        if (resolved.Addresses is not { Count: > 0 } addresses)
        {
            return new(null, null, resolved.Error ?? "no address");
        }

        var endPoint = new IPEndPoint(addresses[0], upstream.Port);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (upstream.SoMark is { } mark)
            {
                SocketMark.Apply(socket, mark);
            }

            UdpBuffers.Deepen(socket);
            socket.Connect(endPoint);
            return new(socket, endPoint, null);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            return new(null, endPoint, $"connecting to {endPoint} failed: {e.SocketErrorCode}");
        }
    }

    /// <summary>A TCP connection to the upstream, and TLS over it when the upstream has <c>tls</c>, all within connect_timeout.</summary>
    public async ValueTask<DialResult<IConnectionLeg>> ConnectStreamAsync(CancellationToken ct)
    {
        var timeout = ConnectTimeout;
        var started = Stopwatch.GetTimestamp();
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
        budget.CancelAfter(timeout);
        Socket? socket = null;
        IPEndPoint? endPoint = null;
        try
        {
            var (addresses, error) = await ResolveAsync(budget.Token);
            if (addresses is null)
            {
                return new(null, null, error);
            }

            string? lastError = null;
            foreach (var address in addresses)
            {
                endPoint = new IPEndPoint(address, upstream.Port);
                socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                if (upstream.SoMark is { } mark)
                {
                    SocketMark.Apply(socket, mark);
                }

                try
                {
                    await socket.ConnectAsync(endPoint, budget.Token);
                    break;
                }
                catch (SocketException e)
                {
                    lastError = $"connecting to {endPoint} failed: {e.SocketErrorCode}";
                    socket.Dispose();
                    socket = null;
                }
            }

            if (socket is null)
            {
                return new(null, endPoint, lastError ?? "no address");
            }

            if (tls is null)
            {
                var plain = socket;
                socket = null;
                return new(new SocketLeg(plain), endPoint, null);
            }

            var inner = new PrefixedStream(socket, ReadOnlyMemory<byte>.Empty);
            var stream = new SslStream(inner, leaveInnerStreamOpen: false);
            var hostDisplay = tls.TargetHostDisplay(null, null, upstream.Display);
            var check = new UpstreamCertificateCheck(tls.Settings, hostDisplay);
            try
            {
                await stream.AuthenticateAsClientAsync(tls.CreateOptions(tls.TargetHost(null, null), check), budget.Token);
            }
            catch (Exception e) when (LegErrors.IsTransport(e))
            {
                await stream.DisposeAsync();
                var (result, reason) = check.Result != TlsHandshakeResult.Ok
                    ? (check.Result, check.Reason!)
                    : budget.IsCancellationRequested && !ct.IsCancellationRequested
                        ? (TlsHandshakeResult.Timeout, "no handshake within connect_timeout")
                        : TlsHandshakeResults.Classify(e, check.CertificateSeen);
                handshakes.On(TlsSide.Upstream, result);
                return new(null, endPoint, $"TLS with {hostDisplay} failed ({TlsHandshakeResults.Label(result)}): {reason}");
            }

            handshakes.On(TlsSide.Upstream, TlsHandshakeResult.Ok);
            var leg = new TlsLeg(socket, stream, inner.Gate);
            socket = null;
            return new(leg, endPoint, null);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new(null, endPoint, $"no connection within connect_timeout ({Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms)");
        }
        finally
        {
            socket?.Dispose();
        }
    }
}
