using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Tests.Infrastructure;
using TlsProxyTunnel.Upstreams.HttpConnect;

namespace TlsProxyTunnel.Tests.Upstreams.HttpConnect;

// Run alone: the handshake-timeout test needs a 300 ms timer's continuation within 3 s, which a thread pool
// starved by the parallel tests has not always given (as for ConnectionHandlerTests' idle timeout).
[Collection(RunAlone.Name)]
public sealed class ConnectTunnelTests
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Handshake = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Established_tunnel_returns_bytes_after_the_header_block()
    {
        await using var proxy = await ScriptedProxy.StartAsync(Segments("HTTP/1.1 200 Connection established\r\n\r\nSSH-2.0-banner\r\n"));
        using var socket = await proxy.ConnectAsync();

        var result = await ConnectTunnel.EstablishAsync(socket, "backend.test:22", [new ProxyHeader("X-A", "1", false)], Handshake, default).AsTask().WaitAsync(TestTimeout);

        Assert.Equal(ConnectTunnelStatus.Established, result.Status);
        Assert.Equal(200, result.StatusCode);
        Assert.Equal("Connection established", result.Reason);
        Assert.Equal("SSH-2.0-banner\r\n", Encoding.ASCII.GetString(result.Leftover.Span));
        Assert.Equal("CONNECT backend.test:22 HTTP/1.1\r\nHost: backend.test:22\r\nX-A: 1\r\n\r\n", await proxy.RequestText.WaitAsync(TestTimeout));
    }

    [Fact]
    public async Task Response_split_into_segments_is_reassembled()
    {
        await using var proxy = await ScriptedProxy.StartAsync(Segments("HT", "TP/1.1 2", "00 OK\r", "\nVia: x\r\n\r", "\nhello"));
        using var socket = await proxy.ConnectAsync();

        var result = await ConnectTunnel.EstablishAsync(socket, "b:443", [], Handshake, default).AsTask().WaitAsync(TestTimeout);

        Assert.Equal(ConnectTunnelStatus.Established, result.Status);
        Assert.Equal("OK", result.Reason);
        Assert.Equal("hello", Encoding.ASCII.GetString(result.Leftover.Span));
        Assert.Equal(4, proxy.SegmentsTakenAlone);
    }

    [Fact]
    public async Task Established_without_extra_bytes_has_empty_leftover()
    {
        await using var proxy = await ScriptedProxy.StartAsync(Segments("HTTP/1.0 200\r\n\r\n"));
        using var socket = await proxy.ConnectAsync();

        var result = await ConnectTunnel.EstablishAsync(socket, "b:443", [], Handshake, default).AsTask().WaitAsync(TestTimeout);

        Assert.Equal(ConnectTunnelStatus.Established, result.Status);
        Assert.Equal("", result.Reason);
        Assert.True(result.Leftover.IsEmpty);
    }

    [Fact]
    public async Task Status_407_is_refused_with_status_and_reason()
    {
        await using var proxy = await ScriptedProxy.StartAsync(Segments("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"p\"\r\n\r\n"));
        using var socket = await proxy.ConnectAsync();

        var result = await ConnectTunnel.EstablishAsync(socket, "b:443", [], Handshake, default).AsTask().WaitAsync(TestTimeout);

        Assert.Equal(ConnectTunnelStatus.ProxyRefused, result.Status);
        Assert.Equal(407, result.StatusCode);
        Assert.Equal("Proxy Authentication Required", result.Reason);
        Assert.True(result.Leftover.IsEmpty);
    }

    [Fact]
    public async Task Reason_is_sanitised_and_bounded()
    {
        var reason = "Bad \u00ff" + new string('x', 300);
        await using var proxy = await ScriptedProxy.StartAsync([Encoding.Latin1.GetBytes($"HTTP/1.1 502 {reason}\r\n\r\n")]);
        using var socket = await proxy.ConnectAsync();

        var result = await ConnectTunnel.EstablishAsync(socket, "b:443", [], Handshake, default).AsTask().WaitAsync(TestTimeout);

        Assert.Equal(ConnectTunnelStatus.ProxyRefused, result.Status);
        Assert.Equal(128, result.Reason!.Length);
        Assert.StartsWith("Bad ?xxx", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Proxy_closing_mid_handshake_is_reported()
    {
        await using var proxy = await ScriptedProxy.StartAsync(Segments("HTTP/1.1 200 Conn"), closeAfter: true);
        using var socket = await proxy.ConnectAsync();

        var result = await ConnectTunnel.EstablishAsync(socket, "b:443", [], Handshake, default).AsTask().WaitAsync(TestTimeout);

        Assert.Equal(ConnectTunnelStatus.ProxyClosed, result.Status);
    }

    [Fact]
    public async Task Non_http_answer_is_malformed()
    {
        await using var proxy = await ScriptedProxy.StartAsync(Segments("SSH-2.0-OpenSSH\r\n"));
        using var socket = await proxy.ConnectAsync();

        var result = await ConnectTunnel.EstablishAsync(socket, "b:443", [], Handshake, default).AsTask().WaitAsync(TestTimeout);

        Assert.Equal(ConnectTunnelStatus.Malformed, result.Status);
    }

    [Fact]
    public async Task Endless_header_block_is_too_large()
    {
        var big = "HTTP/1.1 200 OK\r\n" + string.Concat(Enumerable.Repeat("X-Pad: " + new string('a', 100) + "\r\n", 200));
        await using var proxy = await ScriptedProxy.StartAsync(Segments(big));
        using var socket = await proxy.ConnectAsync();

        var result = await ConnectTunnel.EstablishAsync(socket, "b:443", [], Handshake, default).AsTask().WaitAsync(TestTimeout);

        Assert.Equal(ConnectTunnelStatus.TooLarge, result.Status);
    }

    [Fact]
    public async Task Proxy_that_never_answers_times_out_within_the_handshake_timeout()
    {
        await using var proxy = await ScriptedProxy.StartAsync([]);
        using var socket = await proxy.ConnectAsync();
        var timeout = TimeSpan.FromMilliseconds(300);
        var clock = Stopwatch.StartNew();

        var result = await ConnectTunnel.EstablishAsync(socket, "b:443", [], timeout, default).AsTask().WaitAsync(TestTimeout);

        Assert.Equal(ConnectTunnelStatus.Timeout, result.Status);
        Assert.InRange(clock.Elapsed, timeout - TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task Caller_cancellation_is_not_reported_as_timeout()
    {
        await using var proxy = await ScriptedProxy.StartAsync([]);
        using var socket = await proxy.ConnectAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => ConnectTunnel.EstablishAsync(socket, "b:443", [], TimeSpan.FromSeconds(30), cts.Token).AsTask().WaitAsync(TestTimeout));
    }

    [Fact]
    public async Task Closed_socket_is_an_io_error_not_an_exception()
    {
        await using var proxy = await ScriptedProxy.StartAsync([]);
        var socket = await proxy.ConnectAsync();
        socket.Dispose();

        var result = await ConnectTunnel.EstablishAsync(socket, "b:443", [], Handshake, default).AsTask().WaitAsync(TestTimeout);

        Assert.Equal(ConnectTunnelStatus.IoError, result.Status);
    }

    [Fact]
    public async Task Reset_by_proxy_is_an_io_error_with_the_socket_error()
    {
        await using var proxy = await ScriptedProxy.StartAsync([], reset: true);
        using var socket = await proxy.ConnectAsync();

        var result = await ConnectTunnel.EstablishAsync(socket, "b:443", [], Handshake, default).AsTask().WaitAsync(TestTimeout);

        Assert.True(result.Status is ConnectTunnelStatus.IoError or ConnectTunnelStatus.ProxyClosed, result.Status.ToString());
        if (result.Status == ConnectTunnelStatus.IoError)
        {
            Assert.Equal(SocketError.ConnectionReset, result.SocketError);
        }
    }

    private static byte[][] Segments(params string[] parts) => [.. parts.Select(Encoding.ASCII.GetBytes)];

    /// <summary>A loopback listener that reads one CONNECT request and answers with scripted segments.</summary>
    private sealed class ScriptedProxy : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly TaskCompletionSource<string> _request = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly CancellationTokenSource _stop = new();
        private Task _serve = Task.CompletedTask;
        private Socket? _client;
        private int _takenAlone;

        private ScriptedProxy(TcpListener listener) => _listener = listener;

        public Task<string> RequestText => _request.Task;

        /// <summary>Segments the reader had taken before the next was sent (so the next reached it in a read of its own).</summary>
        public int SegmentsTakenAlone => Volatile.Read(ref _takenAlone);

        public static Task<ScriptedProxy> StartAsync(byte[][] segments, bool closeAfter = false, bool reset = false)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var proxy = new ScriptedProxy(listener);
            proxy._serve = proxy.ServeAsync(segments, closeAfter, reset);
            return Task.FromResult(proxy);
        }

        public async Task<Socket> ConnectAsync()
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync((IPEndPoint)_listener.LocalEndpoint).WaitAsync(TestTimeout);
            _client = socket;
            return socket;
        }

        private async Task ServeAsync(byte[][] segments, bool closeAfter, bool reset)
        {
            using var peer = await _listener.AcceptSocketAsync(_stop.Token);
            peer.NoDelay = true;
            var buffer = new byte[4096];
            var received = 0;
            while (Encoding.ASCII.GetString(buffer, 0, received).IndexOf("\r\n\r\n", StringComparison.Ordinal) < 0)
            {
                var n = await peer.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None, _stop.Token);
                if (n == 0)
                {
                    return;
                }

                received += n;
            }

            _request.TrySetResult(Encoding.ASCII.GetString(buffer, 0, received));
            if (reset)
            {
                peer.LingerState = new LingerOption(true, 0);
                peer.Close();
                return;
            }

            for (var i = 0; i < segments.Length; i++)
            {
                await peer.SendAsync(segments[i], SocketFlags.None, _stop.Token);
                if (i < segments.Length - 1 && await TakenByReaderAsync())
                {
                    Interlocked.Increment(ref _takenAlone);
                }
            }

            if (closeAfter)
            {
                peer.Shutdown(SocketShutdown.Send);
                return;
            }

            // Hold the connection open until the test ends.
            await Task.Delay(Timeout.Infinite, _stop.Token);
        }

        /// <summary>
        /// Waits until the reader has taken everything sent (nothing queued on its socket; on loopback a send is
        /// queued at the peer before it returns), so the next segment can only reach it in a read of its own.
        /// </summary>
        private async Task<bool> TakenByReaderAsync()
        {
            // A reader that has decided stops reading: then this gives up when the test ends, and says so.
            var waited = Stopwatch.StartNew();
            while (_client is { } client && SafeAvailable(client) > 0)
            {
                if (_stop.IsCancellationRequested || waited.Elapsed > TestTimeout)
                {
                    return false;
                }

                await Task.Delay(1);
            }

            return _client is not null;
        }

        private static int SafeAvailable(Socket socket)
        {
            try
            {
                return socket.Available;
            }
            catch (ObjectDisposedException)
            {
                return 0;
            }
            catch (SocketException)
            {
                return 0;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            try
            {
                await _serve.WaitAsync(TestTimeout);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Expected: the script was cut short by the test ending.
            }

            _stop.Dispose();
        }
    }
}
