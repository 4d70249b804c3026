using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.TlsData;

namespace TlsProxyTunnel.IntegrationTests.Cli;

/// <summary>
/// <c>tpt prox</c> with prox.py's command line and <c>tpt capcat</c> on what it captured, as processes: a plain proxy with
/// <c>-l</c>, <c>-1</c>, and <c>-s -A</c> intercepting TLS towards an openssl origin; the flags that are refused.
/// </summary>
public sealed class ProxCommandTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly TestPki _pki = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("tpt-prox-").FullName;

    public void Dispose()
    {
        _pki.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Prox_with_a_log_captures_and_capcat_shows_it_raw_and_as_hexdump()
    {
        await using var backend = new TestBackend("echo", echo: true, banner: false);
        var log = Path.Combine(_dir, "log.txt");
        await using var tpt = await TptProcess.StartCommandAsync(["prox", "-b", "127.0.0.1", "-L", "0", "-l", log, "127.0.0.1", backend.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)], expectedListeners: 1);

        var port = await RoundTripAsync(tpt.EndPoint("prox"), "Hello, prox!"u8.ToArray());
        await tpt.WaitForLineAsync(l => l.Contains("outcome=completed", StringComparison.Ordinal)).WaitAsync(Bound);
        await CaptureReaderWait(log, 2);

        var raw = await TptProcess.RunToExitAsync(["capcat", "-i", log]).WaitAsync(Bound);
        Assert.Equal((0, "Hello, prox!"), (raw.ExitCode, raw.Stdout));

        var hex = await TptProcess.RunToExitAsync(["capcat", "-x", "-o", "-a", $"127.0.0.1:{port}", log]).WaitAsync(Bound);
        Assert.Equal("00000000: 48 65 6c 6c 6f 2c 20 70 : 72 6f 78 21             | Hello, prox!    \n", hex.Stdout);

        var list = await TptProcess.RunToExitAsync(["capcat", "-l", log], new Dictionary<string, string?> { ["TZ"] = "UTC" }).WaitAsync(Bound);
        Assert.Matches($@"^\d{{4}}-\d\d-\d\d_\d\d:\d\d:\d\d 127\.0\.0\.1:{port}\n$", list.Stdout);
    }

    [Fact]
    public async Task One_shot_handles_a_single_connection_and_exits_with_its_result()
    {
        await using var backend = new TestBackend("echo", echo: true, banner: false);
        await using var tpt = await TptProcess.StartCommandAsync(["prox", "-1", "-b", "127.0.0.1", "-L", "0", "127.0.0.1", backend.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)], expectedListeners: 1);

        await RoundTripAsync(tpt.EndPoint("prox"), "once"u8.ToArray());
        Assert.Equal(0, await tpt.WaitForExitAsync(Bound));
    }

    [Fact]
    public async Task Ssl_with_an_auto_certificate_intercepts_tls_with_a_leaf_per_name_signed_by_the_ca_file()
    {
        // prox.py's -C NAME: NAME.pem holds the CA certificate and its key.
        var ca = Path.Combine(_dir, "myca");
        File.WriteAllText(ca + ".pem", File.ReadAllText(_pki.Cert("ca")) + File.ReadAllText(_pki.Key("ca")));
        using var origin = await OpenSslPeer.ServerAsync("-cert", _pki.Cert("server"), "-key", _pki.Key("server"), "-www");
        var log = Path.Combine(_dir, "tls.txt");
        await using var tpt = await TptProcess.StartCommandAsync(["prox", "-s", "-A", "www.test", "-C", ca, "-l", log, "-b", "127.0.0.1", "-L", "0", "127.0.0.1", origin.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)], expectedListeners: 1);
        var port = tpt.EndPoint("prox").Port;

        var (exitCode, stdout, stderr) = await Peers.CurlAsync("--cacert", _pki.Cert("ca"), "--resolve", $"api.test:{port}:127.0.0.1", $"https://api.test:{port}/").WaitAsync(Bound);
        Assert.True(exitCode == 0, stderr);
        Assert.Contains("subject: CN=api.test", stderr, StringComparison.Ordinal);

        await tpt.WaitForLineAsync(l => l.Contains("outcome=completed", StringComparison.Ordinal)).WaitAsync(Bound);
        await CaptureReaderWait(log, 2);
        var shown = await TptProcess.RunToExitAsync(["capcat", "-i", log]).WaitAsync(Bound);
        Assert.StartsWith("GET / HTTP/1.1\r\nHost: api.test:", shown.Stdout, StringComparison.Ordinal);
        Assert.Contains(stdout, (await TptProcess.RunToExitAsync(["capcat", "-o", log]).WaitAsync(Bound)).Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-3", "SSLv3")]
    [InlineData("-T", "TLS 1.0")]
    [InlineData("-m", "'filters:'")]
    [InlineData("-O", "-O needs -L")]
    public async Task Flags_tpt_does_not_take_are_refused_with_the_reason(string flag, string reason)
    {
        string[] args = flag == "-m" ? ["prox", "-m", "modFiltCase:x", "127.0.0.1", "80"] : ["prox", flag, "127.0.0.1", "80"];
        var (exitCode, _, stderr) = await TptProcess.RunToExitAsync(args).WaitAsync(Bound);
        Assert.Equal(2, exitCode);
        Assert.Contains(reason, stderr, StringComparison.Ordinal);
    }

    private static async Task CaptureReaderWait(string log, int lines)
    {
        // The capture is written just behind the relay: wait for its lines, not a fixed time.
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(File.Exists(log) && File.ReadAllLines(log).Length >= lines), Bound, TimeSpan.FromMilliseconds(50)));
    }

    private static async Task<int> RoundTripAsync(System.Net.IPEndPoint endPoint, byte[] request)
    {
        using var client = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(endPoint).WaitAsync(Bound);
        await client.SendAsync(request).WaitAsync(Bound);
        client.Shutdown(SocketShutdown.Send);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await client.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Bound)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        Assert.Equal(Encoding.ASCII.GetString(request), Encoding.ASCII.GetString(received.ToArray()));
        return ((System.Net.IPEndPoint)client.LocalEndPoint!).Port;
    }
}
