using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.TlsData;

namespace TlsProxyTunnel.IntegrationTests.ReverseRelay;

/// <summary>
/// A scripted tx_tlsrelay server (the program behind NAT) on the control channel: mutual TLS with the test PKI's
/// client certificate, the relay's chain checked against its CA and no host name checked (as Twisted's options), and
/// what the relay sends read as raw bytes, so the lines are compared byte for byte, CRLF included.
/// </summary>
internal sealed class ControlClient : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly Socket _socket;
    private readonly SslStream _stream;

    private ControlClient(Socket socket, SslStream stream)
    {
        _socket = socket;
        _stream = stream;
    }

    public static async Task<ControlClient> ConnectAsync(IPEndPoint relay, TestPki pki, string? certificate = "client")
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(relay).WaitAsync(Bound);
        var ca = pki.LoadPublic("ca");
        var stream = new SslStream(new NetworkStream(socket, ownsSocket: true));
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = "relay",
            ClientCertificates = certificate is null ? null : [pki.Load(certificate)],
            RemoteCertificateValidationCallback = (_, cert, _, _) =>
            {
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return cert is X509Certificate2 leaf && chain.Build(leaf);
            },
        };
        await stream.AuthenticateAsClientAsync(options).WaitAsync(Bound);
        return new ControlClient(socket, stream);
    }

    /// <summary>Reads up to and including the next CRLF, byte by byte, so nothing after it is consumed.</summary>
    public async Task<string> ReadLineAsync()
    {
        var line = new List<byte>();
        var one = new byte[1];
        while (!(line.Count >= 2 && line[^2] == '\r' && line[^1] == '\n'))
        {
            if (await _stream.ReadAsync(one).AsTask().WaitAsync(Bound) == 0)
            {
                throw new EndOfStreamException($"the relay closed the control channel after {Encoding.ASCII.GetString([.. line])}");
            }

            line.Add(one[0]);
        }

        return Encoding.ASCII.GetString([.. line]);
    }

    /// <summary>Everything until the relay closes.</summary>
    public async Task<string> ReadToEndAsync()
    {
        var all = new MemoryStream();
        var buffer = new byte[256];
        int read;
        while ((read = await _stream.ReadAsync(buffer).AsTask().WaitAsync(Bound)) > 0)
        {
            all.Write(buffer, 0, read);
        }

        return Encoding.ASCII.GetString(all.ToArray());
    }

    /// <summary>Reads the two listener lines (either order, as the reference client) and returns the ports.</summary>
    public async Task<(int Public, int Reverse)> ReadListenersAsync()
    {
        int? publicPort = null, reversePort = null;
        while (publicPort is null || reversePort is null)
        {
            var line = await ReadLineAsync();
            var port = int.Parse(line[(line.LastIndexOf(':') + 1)..].TrimEnd(), System.Globalization.CultureInfo.InvariantCulture);
            if (line.StartsWith("public_listener ", StringComparison.Ordinal))
            {
                publicPort = port;
            }
            else if (line.StartsWith("reverse_listener ", StringComparison.Ordinal))
            {
                reversePort = port;
            }
            else
            {
                throw new InvalidDataException($"unexpected line {line}");
            }
        }

        return (publicPort.Value, reversePort.Value);
    }

    public Task WriteAsync(string text) => _stream.WriteAsync(Encoding.ASCII.GetBytes(text)).AsTask();

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}

/// <summary>
/// <c>openssl s_client -cert -key -CAfile -quiet</c> as the control client: a real TLS stack, with the bytes the relay
/// sends copied raw to stdout.
/// </summary>
internal sealed class OpenSslControlClient : IDisposable
{
    private readonly Process _process;
    private readonly MemoryStream _received = new();
    private readonly Task _pump;
    private readonly SemaphoreSlim _more = new(0);

    private OpenSslControlClient(Process process)
    {
        _process = process;
        _pump = PumpAsync();
    }

    public static OpenSslControlClient Start(IPEndPoint relay, TestPki pki, bool withCertificate = true)
    {
        var info = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        List<string> args = ["s_client", "-connect", relay.ToString(), "-CAfile", pki.Cert("ca"), "-verify_return_error", "-quiet"];
        if (withCertificate)
        {
            args.AddRange(["-cert", pki.Cert("client"), "-key", pki.Key("client")]);
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info)!;
        _ = process.StandardError.ReadToEndAsync();
        return new OpenSslControlClient(process);
    }

    /// <summary>Waits until <paramref name="length"/> bytes arrived (or openssl exited) and returns all received so far.</summary>
    public async Task<string> WaitForBytesAsync(int length, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            lock (_received)
            {
                if (_received.Length >= length || _pump.IsCompleted)
                {
                    return Encoding.ASCII.GetString(_received.ToArray());
                }
            }

            await _more.WaitAsync(cts.Token);
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        await _pump.WaitAsync(timeout);
        return _process.ExitCode;
    }

    public string Received
    {
        get
        {
            lock (_received)
            {
                return Encoding.ASCII.GetString(_received.ToArray());
            }
        }
    }

    private async Task PumpAsync()
    {
        var buffer = new byte[256];
        var stdout = _process.StandardOutput.BaseStream;
        int read;
        try
        {
            while ((read = await stdout.ReadAsync(buffer)) > 0)
            {
                lock (_received)
                {
                    _received.Write(buffer, 0, read);
                }

                _more.Release();
            }
        }
        finally
        {
            _more.Release();
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
    }
}

/// <summary>Plain sockets on the data ports.</summary>
internal static class DataPort
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    public static async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(Bound);
        return socket;
    }

    public static Task SendAsync(Socket socket, string text) => socket.SendAsync(Encoding.ASCII.GetBytes(text).AsMemory(), SocketFlags.None).AsTask();

    /// <summary>Exactly <paramref name="count"/> bytes, or fewer when the peer closes first.</summary>
    public static async Task<string> ReadAsync(Socket socket, int count, TimeSpan? timeout = null)
    {
        var buffer = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(filled)).AsTask().WaitAsync(timeout ?? Bound);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        return Encoding.ASCII.GetString(buffer, 0, filled);
    }

    /// <summary>All bytes until the peer ends its side (FIN or reset); throws when it does not within <paramref name="timeout"/>.</summary>
    public static async Task<string> ReadToEndAsync(Socket socket, TimeSpan? timeout = null)
    {
        var all = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(timeout ?? Bound)) > 0)
            {
                all.Write(buffer, 0, read);
            }
        }
        catch (SocketException)
        {
            // A reset ends it as well.
        }

        return Encoding.ASCII.GetString(all.ToArray());
    }
}
