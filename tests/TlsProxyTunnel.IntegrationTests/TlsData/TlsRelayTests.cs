using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.IntegrationTests.TlsData;

/// <summary>
/// Relaying through terminate_tls and upstream tls keeps the plain relay's properties: every byte in order,
/// half-close both ways (close_notify and FIN passed on), idle_timeout.
/// </summary>
public sealed class TlsRelayTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task A_hundred_megabytes_echo_through_terminate_and_originate_intact_and_the_clients_close_is_passed_on()
    {
        const int Total = 100 * 1024 * 1024;
        await using var backend = new TlsBackend(_pki.ServerCertificate("server"), async (stream, socket) =>
        {
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                await stream.WriteAsync(buffer.AsMemory(0, read));
            }

            // The client's close_notify + FIN arrived through tpt; answer with ours.
            await stream.ShutdownAsync();
            socket.Shutdown(SocketShutdown.Send);
        });
        await using var tpt = Proxy(backend.Port);
        using var client = await TlsClientAsync(tpt.EndPoint("t"));

        var sent = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var send = Task.Run(async () =>
        {
            var random = new Random(11);
            var chunk = new byte[256 * 1024];
            for (var left = Total; left > 0; left -= chunk.Length)
            {
                random.NextBytes(chunk);
                sent.AppendData(chunk);
                await client.Stream.WriteAsync(chunk);
            }

            // While the loop below is still reading this stream: SslStream does not keep SSL_shutdown off a read
            // that is decrypting, so the client ends its direction through the product's TlsLeg, which does.
            await client.Leg.ShutdownSendAsync();
        });
        long total = 0;
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = await client.Leg.ReadAsync(buffer).AsTask().WaitAsync(Bound)) > 0)
        {
            received.AppendData(buffer, 0, n);
            total += n;
        }

        await send.WaitAsync(Bound);
        Assert.Equal(Total, total);
        Assert.Equal(Convert.ToHexString(sent.GetHashAndReset()), Convert.ToHexString(received.GetHashAndReset()));
        var line = await tpt.AccessLineAsync("t").WaitAsync(Bound);
        Assert.Contains($"rx={Total} tx={Total}", line, StringComparison.Ordinal);
        Assert.Contains("outcome=completed", line, StringComparison.Ordinal);
        Assert.Contains("upstream_tls=TLSv1.3", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_upstreams_close_reaches_the_client_while_the_client_can_still_send()
    {
        var heard = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = new TlsBackend(_pki.ServerCertificate("server"), async (stream, socket) =>
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes("server done\n"));
            await stream.ShutdownAsync();
            socket.Shutdown(SocketShutdown.Send);

            // Half-closed: this side still reads until the client ends too.
            var all = new MemoryStream();
            await stream.CopyToAsync(all);
            heard.TrySetResult(Encoding.ASCII.GetString(all.ToArray()));
        });
        await using var tpt = Proxy(backend.Port);
        using var client = await TlsClientAsync(tpt.EndPoint("t"));

        var reader = new StreamReader(client.Stream);
        Assert.Equal("server done", await reader.ReadLineAsync().WaitAsync(Bound));
        Assert.Null(await reader.ReadLineAsync().WaitAsync(Bound));

        await client.Stream.WriteAsync(Encoding.ASCII.GetBytes("client still talking\n"));
        await client.Stream.ShutdownAsync();
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.Equal("client still talking\n", await heard.Task.WaitAsync(Bound));
        Assert.Contains("outcome=completed", await tpt.AccessLineAsync("t").WaitAsync(Bound), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Idle_timeout_ends_a_quiet_tls_relay()
    {
        await using var backend = new TlsBackend(_pki.ServerCertificate("server"), async (stream, _) =>
        {
            var buffer = new byte[1024];
            while (await stream.ReadAsync(buffer) > 0)
            {
            }
        });
        await using var tpt = Proxy(backend.Port, idle: TimeSpan.FromMilliseconds(500));
        using var client = await TlsClientAsync(tpt.EndPoint("t"));

        var buffer = new byte[16];
        try
        {
            Assert.Equal(0, await client.Stream.ReadAsync(buffer).AsTask().WaitAsync(Bound));
        }
        catch (IOException)
        {
            // Cut with a reset: also closed.
        }

        Assert.Contains("outcome=idle_timeout", await tpt.AccessLineAsync("t").WaitAsync(Bound), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Write_timeout_frees_a_tls_relay_whose_client_stopped_reading()
    {
        await using var backend = new TlsBackend(_pki.ServerCertificate("server"), async (stream, _) =>
        {
            var chunk = new byte[256 * 1024];
            while (true)
            {
                await stream.WriteAsync(chunk);
            }
        });
        await using var tpt = Proxy(backend.Port, write: TimeSpan.FromSeconds(1));
        using var client = await TlsClientAsync(tpt.EndPoint("t"));

        // The client never reads: the socket buffers fill, tpt's send to the client stops making progress.
        var line = await tpt.AccessLineAsync("t").WaitAsync(Bound);
        Assert.Contains("outcome=write_timeout", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_echo_upstream_echoes_decrypted_bytes_behind_terminate_tls()
    {
        var server = InProcessTpt.Server("t", "echo") with { TerminateTls = new TerminateTlsSettings { Default = _pki.ServerCertificate("server") } };
        await using var tpt = new InProcessTpt([server], new Dictionary<string, UpstreamConfig>());
        using var client = await TlsClientAsync(tpt.EndPoint("t"));

        await client.Stream.WriteAsync(Encoding.ASCII.GetBytes("echo me\n"));
        Assert.Equal("echo me", await new StreamReader(client.Stream).ReadLineAsync().WaitAsync(Bound));
        await client.Stream.ShutdownAsync();
        client.Socket.Shutdown(SocketShutdown.Send);
        var line = await tpt.AccessLineAsync("t").WaitAsync(Bound);
        Assert.Contains("rx=8 tx=8", line, StringComparison.Ordinal);
        Assert.Contains("outcome=completed", line, StringComparison.Ordinal);
    }

    private InProcessTpt Proxy(int backendPort, TimeSpan? idle = null, TimeSpan? write = null)
    {
        var server = InProcessTpt.Server("t", "up") with
        {
            TerminateTls = new TerminateTlsSettings { Default = _pki.ServerCertificate("server") },
            IdleTimeout = idle,
            WriteTimeout = write ?? TimeSpan.FromSeconds(60),
        };
        var upstream = InProcessTpt.Upstream("up", "localhost", backendPort, new UpstreamTlsSettings { ExtraRoots = [_pki.LoadPublic("ca")], CaOnly = true });
        return new InProcessTpt([server], new Dictionary<string, UpstreamConfig> { ["up"] = upstream });
    }

    private async Task<TlsClient> TlsClientAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint).WaitAsync(Bound);
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(_pki.LoadPublic("ca"));
        var inner = new PrefixedStream(socket, ReadOnlyMemory<byte>.Empty);
        var stream = new SslStream(inner, leaveInnerStreamOpen: false);
        await stream.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", CertificateChainPolicy = policy }).WaitAsync(Bound);
        return new TlsClient(new TlsLeg(socket, stream, inner.Gate));
    }
}

internal sealed class TlsClient(TlsLeg leg) : IDisposable
{
    public TlsLeg Leg { get; } = leg;

    public Socket Socket => Leg.Socket;

    public SslStream Stream => Leg.Stream;

    public void Dispose() => Leg.Dispose();
}

/// <summary>A TLS server in this process (a real peer on a loopback socket) running <c>serve</c> per connection.</summary>
internal sealed class TlsBackend : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly Task _loop;

    public TlsBackend(ServerCertificate certificate, Func<SslStream, Socket, Task> serve)
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        _loop = Task.Run(async () =>
        {
            while (true)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptAsync();
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    return;
                }

                _ = Task.Run(async () =>
                {
                    using var stream = new SslStream(new NetworkStream(socket, ownsSocket: true));
                    try
                    {
                        await stream.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificateContext = certificate.Context });
                        await serve(stream, socket);
                    }
                    catch (Exception e) when (e is IOException or SocketException or System.Security.Authentication.AuthenticationException or ObjectDisposedException)
                    {
                        // The test decides what it expects from the client's side.
                    }
                });
            }
        });
    }

    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        await _loop.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
