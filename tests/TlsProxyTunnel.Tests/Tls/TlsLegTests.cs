using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Tests.Tls;

/// <summary>A TLS leg ended in one direction while the relay's other pump is reading it.</summary>
public sealed class TlsLegTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly X509Certificate2 _certificate = SelfSigned();
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    public TlsLegTests()
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
    }

    public void Dispose()
    {
        _listener.Dispose();
        _certificate.Dispose();
    }

    /// <summary>
    /// SslStream lets ShutdownAsync (SSL_shutdown) run while a read is decrypting on another thread; OpenSSL's SSL
    /// object is not thread-safe, so without TlsReadGate about one shutdown in a thousand failed ("shutdown while
    /// in init", no close_notify sent) and the same race crashed the process in libssl. Every close_notify must
    /// reach the peer while records keep arriving for the reading pump.
    /// </summary>
    [Fact]
    public async Task Ending_the_send_direction_while_records_are_being_read_sends_close_notify_every_time()
    {
        const int Connections = 1500;
        const int Parallel = 8;
        var next = 0;
        var truncated = 0;
        var workers = Enumerable.Range(0, Parallel).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) <= Connections)
            {
                if (!await OneConnectionEndsCleanlyAsync())
                {
                    Interlocked.Increment(ref truncated);
                }
            }
        }));

        await Task.WhenAll(workers).WaitAsync(Bound);

        Assert.Equal(0, truncated);
    }

    private async Task<bool> OneConnectionEndsCleanlyAsync()
    {
        var clientSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await clientSocket.ConnectAsync(_listener.LocalEndPoint!);
        using var serverSocket = await _listener.AcceptAsync();
        await using var server = new SslStream(new NetworkStream(serverSocket, ownsSocket: false));
        var inner = new PrefixedStream(clientSocket, ReadOnlyMemory<byte>.Empty);
        var client = new SslStream(inner, leaveInnerStreamOpen: false);
        using var leg = new TlsLeg(clientSocket, client, inner.Gate);

        await Task.WhenAll(
            server.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }),
            client.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == _certificate.GetCertHashString(),
            }));

        // The server streams small records (after its session tickets) until it hears close_notify or a bare FIN.
        var serverHeard = Task.Run(async () =>
        {
            var end = new byte[1];
            try
            {
                return await server.ReadAsync(end) == 0;
            }
            catch (IOException)
            {
                return false;
            }
        });
        var streaming = Task.Run(async () =>
        {
            var record = new byte[32];
            try
            {
                while (!serverHeard.IsCompleted)
                {
                    await server.WriteAsync(record);
                }
            }
            catch (IOException)
            {
                // The client went away.
            }
        });

        // The relay's reading pump: zero-byte read, then a read, as DuplexRelay does.
        var reading = Task.Run(async () =>
        {
            var buffer = new byte[4096];
            try
            {
                while (true)
                {
                    await leg.ReadAsync(Memory<byte>.Empty);
                    if (await leg.ReadAsync(buffer) == 0)
                    {
                        return;
                    }
                }
            }
            catch (IOException)
            {
            }
            catch (ObjectDisposedException)
            {
            }
        });

        await Task.Delay(Random.Shared.Next(0, 3));
        await leg.ShutdownSendAsync();
        var clean = await serverHeard.WaitAsync(Bound);
        serverSocket.Shutdown(SocketShutdown.Both);
        await streaming.WaitAsync(Bound);
        await reading.WaitAsync(Bound);
        return clean;
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
    }
}
