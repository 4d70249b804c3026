using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.TlsData;

namespace TlsProxyTunnel.IntegrationTests.Inspection;

/// <summary>
/// seed-tools §4.6, prox.py inside tpt, with the real binary and real peers: the capture format read by an independent
/// reader (PROX-1), per-SNI minted certificates checked by openssl and curl (PROX-3), robustness where prox.py failed
/// (PROX-5), filters (PROX-6).
/// </summary>
public sealed class InspectionTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly TestPki _pki = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("tpt-inspect-").FullName;

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

    private string Capture => Path.Combine(_dir, "capture.log");

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task Prox1_capture_lines_are_prox_py_s_and_decode_to_the_bytes_each_way(string loopback)
    {
        await using var backend = new TestBackend("echo", echo: true, banner: false);
        var listen = loopback == "::1" ? "[::1]:0" : "127.0.0.1:0";
        using var config = new TempConfig($$"""
            version: 2
            servers:
              cap:
                listen: ["{{listen}}"]
                capture: {path: "{{Capture}}", mode: truncate}
                default: origin
            upstream:
              origin: "tcp://127.0.0.1:{{backend.Port}}"
            """);
        File.WriteAllText(Capture, "left from before: truncate empties the file\n");
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1);

        var request = "GET / HTTP/1.0\r\n\r\n"u8.ToArray();
        var (local, received) = await RoundTripAsync(tpt.EndPoint("cap"), request);
        Assert.Equal(request, received);
        await tpt.WaitForLineAsync(l => l.Contains("server=cap ", StringComparison.Ordinal) && l.Contains("outcome=completed", StringComparison.Ordinal)).WaitAsync(Bound);

        var (clients, fromClient, toClient) = await CaptureReader.ReadWhenCompleteAsync(Capture, request.Length, request.Length).WaitAsync(Bound);
        var expected = loopback == "::1" ? $"[::1]:{local.Port}" : $"127.0.0.1:{local.Port}";
        Assert.Equal([expected], clients);
        Assert.Equal(request, fromClient);
        Assert.Equal(received, toClient);
        Assert.Matches(loopback == "::1" ? @"^[0-9]+\.[0-9]{6} \[::1\]:[0-9]+ [io] [0-9a-f]+$" : @"^[0-9]+\.[0-9]{6} 127\.0\.0\.1:[0-9]+ [io] [0-9a-f]+$", File.ReadAllLines(Capture)[0]);
    }

    [Fact]
    public async Task Prox3_each_sni_gets_a_minted_leaf_that_openssl_verifies_against_the_test_ca()
    {
        await using var tpt = await StartMintAsync(originPort: FreePort.Tcp());
        var endPoint = tpt.EndPoint("inspect");

        var (exitCode, output) = await Peers.SClientAsync(endPoint, "-servername", "svc.test", "-CAfile", _pki.Cert("ca"), "-verify_return_error").WaitAsync(Bound);
        Assert.True(exitCode == 0, output);
        Assert.Contains("Verification: OK", output, StringComparison.Ordinal);

        var svc = await LeafTextAsync(endPoint, "svc.test");
        Assert.Contains("DNS:svc.test", svc.Text, StringComparison.Ordinal);
        Assert.Contains("Signature Algorithm: ecdsa-with-SHA256", svc.Text, StringComparison.Ordinal);
        Assert.Matches(@"X509v3 Basic Constraints: critical\s+CA:FALSE", svc.Text);
        Assert.Contains("TLS Web Server Authentication", svc.Text, StringComparison.Ordinal);
        Assert.Contains("Issuer: CN = tpt test ca", svc.Text, StringComparison.Ordinal);

        // Validity as configured: 2 days from now (minus the few minutes of clock skew allowance).
        var notAfterText = Regex.Replace(Regex.Match(svc.Text, @"Not After : (.+?) GMT").Groups[1].Value, " +", " ");
        var notAfter = DateTime.ParseExact(notAfterText, "MMM d HH:mm:ss yyyy", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal);
        Assert.InRange(notAfter - DateTime.UtcNow, TimeSpan.FromDays(2) - TimeSpan.FromMinutes(10), TimeSpan.FromDays(2) + TimeSpan.FromMinutes(1));

        var other = await LeafTextAsync(endPoint, "other.test");
        Assert.Contains("DNS:other.test", other.Text, StringComparison.Ordinal);
        Assert.NotEqual(svc.Pem, other.Pem);

        // Cached: the same name gets the same leaf.
        Assert.Equal(svc.Pem, (await LeafTextAsync(endPoint, "svc.test")).Pem);

        // No SNI: the leaf is for fallback_name.
        var none = await LeafTextAsync(endPoint, null);
        Assert.Contains("DNS:www.test", none.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prox3_curl_through_interception_trusts_the_minted_leaf_and_the_capture_shows_plaintext_while_both_legs_speak_tls()
    {
        using var origin = await OpenSslPeer.ServerAsync("-cert", _pki.Cert("server"), "-key", _pki.Key("server"), "-www");
        await using var tpt = await StartMintAsync(origin.Port);
        var port = tpt.EndPoint("inspect").Port;

        var (exitCode, stdout, stderr) = await Peers.CurlAsync("--cacert", _pki.Cert("ca"), "--resolve", $"svc.test:{port}:127.0.0.1", $"https://svc.test:{port}/").WaitAsync(Bound);
        Assert.True(exitCode == 0, stderr);
        Assert.Contains("subject: CN=svc.test", stderr, StringComparison.Ordinal);
        Assert.Contains("<HTML>", stdout, StringComparison.OrdinalIgnoreCase);

        var line = await tpt.WaitForLineAsync(l => l.Contains("server=inspect ", StringComparison.Ordinal) && l.Contains(" outcome=", StringComparison.Ordinal)).WaitAsync(Bound);
        Assert.Contains("sni=svc.test", line, StringComparison.Ordinal);
        Assert.Contains("upstream_tls=TLSv1.3", line, StringComparison.Ordinal);

        var (_, fromClient, toClient) = await CaptureReader.ReadWhenCompleteAsync(Capture, 16, Encoding.ASCII.GetByteCount(stdout)).WaitAsync(Bound);
        Assert.StartsWith("GET / HTTP/1.1\r\nHost: svc.test:", Encoding.ASCII.GetString(fromClient), StringComparison.Ordinal);
        Assert.Contains(stdout, Encoding.ASCII.GetString(toClient), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("server", "is not a CA")]
    [InlineData("wrongkey", "the private key does not match the certificate")]
    public async Task An_unusable_ca_is_a_configuration_error(string caFile, string message)
    {
        var (cert, key) = caFile == "server" ? (_pki.Cert("server"), _pki.Key("server")) : (_pki.Cert("ca"), _pki.Key("clientca"));
        using var config = new TempConfig($$"""
            version: 2
            servers:
              inspect:
                listen: ["127.0.0.1:0"]
                terminate_tls:
                  mint: {ca_cert: "{{cert}}", ca_key: "{{key}}"}
                default: echo
            """);

        var (exitCode, _, stderr) = await TptProcess.RunToExitAsync(["check", "-c", config.Path]).WaitAsync(Bound);
        Assert.Equal(1, exitCode);
        Assert.Matches(@"tpt\.yaml:\d+:\d+: error: 'terminate_tls\.mint\.ca_(cert|key)' of server 'inspect'", stderr);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prox5_a_refused_upstream_ends_one_client_and_the_next_is_served_once_it_is_back()
    {
        // Refusing until the backend takes the port over: released early, it may go to any listener on port 0.
        using var refusing = new RefusingPort();
        var port = refusing.Port;
        using var config = new TempConfig($$"""
            version: 2
            servers:
              cap:
                listen: ["127.0.0.1:0"]
                capture: {path: "{{Capture}}"}
                default: origin
            upstream:
              origin: "tcp://127.0.0.1:{{port}}"
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1);

        using (var first = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await first.ConnectAsync(tpt.EndPoint("cap")).WaitAsync(Bound);
            var buffer = new byte[16];
            Assert.Equal(0, await ReceiveOrResetAsync(first, buffer).WaitAsync(Bound));
        }

        await tpt.WaitForLineAsync(l => l.Contains("outcome=upstream_unreachable", StringComparison.Ordinal)).WaitAsync(Bound);
        Assert.False(tpt.HasExited);

        refusing.Dispose();
        await using var backend = new TestBackend("back", echo: true, banner: false, port: port);
        var (_, received) = await RoundTripAsync(tpt.EndPoint("cap"), "again"u8.ToArray());
        Assert.Equal("again"u8.ToArray(), received);
    }

    [Fact]
    public async Task Prox5_a_slow_reader_gets_all_30_MB_then_eof_with_every_byte_captured()
    {
        const int Total = 30_000_000;
        await using var origin = new AcceptLoop(async (socket, ct) =>
        {
            using var _ = socket;
            var block = new byte[64 * 1024];
            Array.Fill(block, (byte)'z');
            for (var sent = 0; sent < Total;)
            {
                sent += await socket.SendAsync(block.AsMemory(0, Math.Min(block.Length, Total - sent)), SocketFlags.None, ct);
            }

            socket.Shutdown(SocketShutdown.Send);
            await socket.ReceiveAsync(new byte[1], SocketFlags.None, ct);
        });
        using var config = new TempConfig($$"""
            version: 2
            servers:
              cap:
                listen: ["127.0.0.1:0"]
                capture: {path: "{{Capture}}"}
                default: origin
            upstream:
              origin: "tcp://127.0.0.1:{{origin.EndPoint.Port}}"
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1);

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(tpt.EndPoint("cap")).WaitAsync(Bound);

        // The case prox.py fails (2.86 MB of 30 arrived): the reader starts late, after the origin has closed.
        await Task.Delay(TimeSpan.FromSeconds(3));
        long total = 0;
        var buffer = new byte[256 * 1024];
        while (true)
        {
            var read = await client.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(60));
            if (read == 0)
            {
                break;
            }

            Assert.True(buffer.AsSpan(0, read).IndexOfAnyExcept((byte)'z') < 0);
            total += read;
        }

        Assert.Equal(Total, total);
        client.Shutdown(SocketShutdown.Send);
        await tpt.WaitForLineAsync(l => l.Contains("outcome=completed", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        var (_, _, toClient) = await CaptureReader.ReadWhenCompleteAsync(Capture, 0, Total, TimeSpan.FromSeconds(60));
        Assert.Equal(Total, toClient.Length);
    }

    [Fact]
    public async Task Prox6_filters_change_bytes_per_direction_and_the_capture_shows_them_after_filtering()
    {
        await using var backend = new TestBackend("echo", echo: true, banner: false);
        using var config = new TempConfig($$"""
            version: 2
            servers:
              cap:
                listen: ["127.0.0.1:0"]
                capture: {path: "{{Capture}}"}
                filters:
                  - {direction: o, uppercase: true}
                  - direction: i
                    replace: {from: "Accept-Encoding: gzip", to: "Accept-Encoding: none, really"}
                default: origin
            upstream:
              origin: "tcp://127.0.0.1:{{backend.Port}}"
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1);

        var request = "get /x\r\nAccept-Encoding: gzip\r\n\r\n"u8.ToArray();
        var filtered = "get /x\r\nAccept-Encoding: none, really\r\n\r\n"u8.ToArray();
        var (_, received) = await RoundTripAsync(tpt.EndPoint("cap"), request, expect: filtered.Length);

        Assert.Equal(filtered, backend.NextFinished().Received);
        Assert.Equal(Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(filtered).ToUpperInvariant()), received);

        var (_, fromClient, toClient) = await CaptureReader.ReadWhenCompleteAsync(Capture, filtered.Length, filtered.Length).WaitAsync(Bound);
        Assert.Equal(filtered, fromClient);
        Assert.Equal(received, toClient);

        // Before and after: the request grew by the replacement, the echo kept its length.
        var access = await tpt.WaitForLineAsync(l => l.Contains("server=cap ", StringComparison.Ordinal) && l.Contains("outcome=", StringComparison.Ordinal)).WaitAsync(Bound);
        Assert.Contains($"rx={filtered.Length} tx={filtered.Length} ", access, StringComparison.Ordinal);
        Assert.Contains($"filtered_in={request.Length}->{filtered.Length} filtered_out={filtered.Length}->{filtered.Length}", access, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reload_keeps_writing_the_capture_without_truncating_it_and_applies_new_filters()
    {
        await using var backend = new TestBackend("echo", echo: true, banner: false);
        string Config(string filters) => $$"""
            version: 2
            servers:
              cap:
                listen: ["127.0.0.1:0"]
                capture: {path: "{{Capture}}"}
            {{filters}}
                default: origin
            upstream:
              origin: "tcp://127.0.0.1:{{backend.Port}}"
            """;
        using var config = new TempConfig(Config(""));
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1);
        var (_, first) = await RoundTripAsync(tpt.EndPoint("cap"), "before"u8.ToArray());
        Assert.Equal("before"u8.ToArray(), first);
        await CaptureReader.ReadWhenCompleteAsync(Capture, 6, 6).WaitAsync(Bound);

        File.WriteAllText(config.Path, Config("    filters: [{direction: o, uppercase: true}]"));
        tpt.Signal(TptProcess.SIGHUP);
        await tpt.WaitForLineAsync(l => l.Contains("Reloaded: generation 2", StringComparison.Ordinal)).WaitAsync(Bound);

        var (_, second) = await RoundTripAsync(tpt.EndPoint("cap"), "after"u8.ToArray());
        Assert.Equal("AFTER"u8.ToArray(), second);
        var (clients, fromClient, toClient) = await CaptureReader.ReadWhenCompleteAsync(Capture, 11, 11).WaitAsync(Bound);
        Assert.Equal(2, clients.Count);
        Assert.Equal("beforeafter"u8.ToArray(), fromClient);
        Assert.Equal("beforeAFTER"u8.ToArray(), toClient);
    }

    [Fact]
    public async Task A_server_without_capture_or_filters_keeps_the_plain_relay()
    {
        // Not observable from outside except by what it does: a capture path given to no server stays untouched.
        await using var backend = new TestBackend("echo", echo: true, banner: false);
        using var config = new TempConfig($"""
            version: 2
            servers:
              plain:
                listen: ["127.0.0.1:0"]
                default: origin
            upstream:
              origin: "tcp://127.0.0.1:{backend.Port}"
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1);
        var (_, received) = await RoundTripAsync(tpt.EndPoint("plain"), "abc"u8.ToArray());
        Assert.Equal("abc"u8.ToArray(), received);
        Assert.False(File.Exists(Capture));
    }

    private async Task<TptProcess> StartMintAsync(int originPort)
    {
        var config = new TempConfig($$"""
            version: 2
            servers:
              inspect:
                listen: ["127.0.0.1:0"]
                terminate_tls:
                  mint:
                    ca_cert: "{{_pki.Cert("ca")}}"
                    ca_key: "{{_pki.Key("ca")}}"
                    validity: 2d
                  fallback_name: www.test
                capture: {path: "{{Capture}}"}
                default: origin
            upstream:
              origin:
                address: "tcp://127.0.0.1:{{originPort}}"
                tls: {server_name: from_client, verify: none}
            """);
        File.Copy(config.Path, Path.Combine(_dir, "tpt.yaml"));
        config.Dispose();
        return await TptProcess.StartAsync(Path.Combine(_dir, "tpt.yaml"), expectedListeners: 1);
    }

    /// <summary>The leaf tpt presents for <paramref name="serverName"/> (null: no SNI), as PEM and as openssl x509 -text prints it.</summary>
    private static async Task<(string Pem, string Text)> LeafTextAsync(IPEndPoint endPoint, string? serverName)
    {
        var (_, output) = await Task.Run(() => OpenSsl.Client(endPoint, serverName)).WaitAsync(Bound);
        var pem = Regex.Match(output, "-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", RegexOptions.Singleline).Value;
        Assert.True(pem.Length > 0, output);
        var (exitCode, text) = await Task.Run(() => OpenSsl.Run(["x509", "-noout", "-text"], stdin: pem)).WaitAsync(Bound);
        Assert.True(exitCode == 0, text);
        return (pem, text);
    }

    /// <summary>Sends, half-closes, reads everything until EOF; returns the client's own address and what came back.</summary>
    private static async Task<(IPEndPoint Local, byte[] Received)> RoundTripAsync(IPEndPoint endPoint, byte[] request, int? expect = null)
    {
        using var client = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(endPoint).WaitAsync(Bound);
        await client.SendAsync(request).WaitAsync(Bound);
        client.Shutdown(SocketShutdown.Send);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        while (true)
        {
            var read = await client.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Bound);
            if (read == 0)
            {
                break;
            }

            received.Write(buffer, 0, read);
        }

        _ = expect;
        return ((IPEndPoint)client.LocalEndPoint!, received.ToArray());
    }

    private static async Task<int> ReceiveOrResetAsync(Socket socket, byte[] buffer)
    {
        try
        {
            return await socket.ReceiveAsync(buffer, SocketFlags.None);
        }
        catch (SocketException)
        {
            return 0;
        }
    }
}
