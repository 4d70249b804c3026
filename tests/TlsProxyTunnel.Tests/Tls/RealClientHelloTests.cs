using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Tests.Tls;

/// <summary>
/// Hellos produced by real TLS stacks rather than by our own builder, so a shared
/// misunderstanding of the wire format between builder and parser cannot hide.
/// </summary>
public sealed class RealClientHelloTests
{
    /// <summary>
    /// Captured from `openssl s_client` 3.0.19 against a local listener (see the file names for
    /// the flags). Read from the source tree so the corpus needs no project-file wiring.
    /// </summary>
    [Theory]
    [InlineData("openssl3-tls13-x.test.hex", "x.test")]
    [InlineData("openssl3-tls12-only.hex", "legacy.example.org")]
    [InlineData("openssl3-alpn-groups.hex", "Mixed.Case.Example.COM")]
    [InlineData("openssl3-no-sni.hex", null)]
    public void Open_SSL_capture(string file, string? host)
    {
        var expected = host is null ? ClientHelloOutcome.NoSni : ClientHelloOutcome.SniFound;
        var hello = Convert.FromHexString(File.ReadAllText(Path.Combine(CorpusDirectory(), file)).Trim());
        Assert.Equal((expected, host), ClientHelloParserTests.Parse(hello));
        for (var i = 0; i < hello.Length; i++)
        {
            Assert.Equal(ClientHelloOutcome.NeedMoreData, ClientHelloParserTests.Parse(hello.AsSpan(0, i)).Outcome);
        }
    }

    /// <summary>What .NET's SslStream (OpenSSL underneath on Linux) sends, captured in memory: no socket, no port.</summary>
    [Theory]
    [InlineData(SslProtocols.None, "dotnet.default.test")]
    [InlineData(SslProtocols.Tls12, "dotnet.tls12.test")]
    [InlineData(SslProtocols.Tls13, "dotnet.tls13.test")]
    public async Task SSL_stream_capture(SslProtocols protocols, string host)
    {
        var hello = await CaptureHelloAsync(new SslClientAuthenticationOptions
        {
            TargetHost = host,
            EnabledSslProtocols = protocols,
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
        });

        Assert.Equal((ClientHelloOutcome.SniFound, host), ClientHelloParserTests.Parse(hello));
        Assert.Equal((ClientHelloOutcome.SniFound, host), ClientHelloParserTests.Parse(ClientHelloBuilder.Frame(hello.AsSpan(5), 7)));
    }

    [Fact]
    public async Task SSL_stream_capture_IP_target_sends_no_SNI()
    {
        var hello = await CaptureHelloAsync(new SslClientAuthenticationOptions { TargetHost = "127.0.0.1" });
        Assert.Equal(ClientHelloOutcome.NoSni, ClientHelloParserTests.Parse(hello).Outcome);
    }

    private static async Task<byte[]> CaptureHelloAsync(SslClientAuthenticationOptions options)
    {
        var capture = new CaptureStream();
        using var ssl = new SslStream(capture);
        await Assert.ThrowsAnyAsync<IOException>(() => ssl.AuthenticateAsClientAsync(options));
        var bytes = capture.Written.ToArray();
        Assert.True(bytes.Length > 5, "SslStream wrote no ClientHello.");

        // SslStream writes the hello in one record; only that record is the hello.
        var recordLength = (bytes[3] << 8) | bytes[4];
        return bytes[..(5 + recordLength)];
    }

    private static string CorpusDirectory([CallerFilePath] string sourceFile = "") =>
        Path.Combine(Path.GetDirectoryName(sourceFile)!, "Corpus");

    /// <summary>Records what the client writes and fails its first read, ending the handshake.</summary>
    private sealed class CaptureStream : Stream
    {
        public MemoryStream Written { get; } = new();

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new IOException("Capture finished.");

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromException<int>(new IOException("Capture finished."));

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Written.Write(buffer, offset, count);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Written.Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                Written.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
