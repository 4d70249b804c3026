using System.Net.Security;
using System.Net.Sockets;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.IntegrationTests.TlsData;

/// <summary>
/// <c>terminate_tls</c> against real clients (openssl s_client, curl): the certificate per SNI, client certificates
/// none/optional/require against client_ca, TLS 1.2 and 1.3, ALPN, and failures as outcomes.
/// </summary>
public sealed class TerminateTlsTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Theory]
    [InlineData("exact.test", "CN = exact.test")]
    [InlineData("a.wild.test", "CN = *.wild.test")]
    [InlineData("localhost", "CN = localhost")] // no pattern matches: the default certificate
    public async Task Each_sni_gets_its_certificate_and_the_hello_read_for_routing_feeds_the_handshake(string serverName, string subject)
    {
        await using var tpt = Proxy(ClientCertificateMode.None);

        var (exitCode, output) = await Peers.SClientAsync(tpt.EndPoint("t"), "-servername", serverName, "-CAfile", _pki.Cert("ca"), "-verify_return_error").WaitAsync(Bound);
        Assert.True(exitCode == 0, output);
        Assert.Contains($"Peer certificate: {subject}", output, StringComparison.Ordinal);
        Assert.Contains("Verification: OK", output, StringComparison.Ordinal);

        var line = await tpt.AccessLineAsync("t").WaitAsync(Bound);
        Assert.Contains($"sni={serverName} hello=sni", line, StringComparison.Ordinal);
        Assert.Contains("tls=TLSv1.3 tls_cipher=TLS_", line, StringComparison.Ordinal);
        Assert.Contains("client_cert=- upstream_tls=-", line, StringComparison.Ordinal);
        Assert.Equal(1, tpt.Metrics.TlsHandshakes.Count(TlsSide.Client, TlsHandshakeResult.Ok));
    }

    [Theory]
    [InlineData("-tls1_2", "TLSv1.2")]
    [InlineData("-tls1_3", "TLSv1.3")]
    public async Task Tls_1_2_and_1_3_clients_are_served_and_logged(string option, string version)
    {
        await using var tpt = Proxy(ClientCertificateMode.None);

        var (exitCode, output) = await Peers.SClientAsync(tpt.EndPoint("t"), option, "-servername", "exact.test", "-CAfile", _pki.Cert("ca"), "-verify_return_error").WaitAsync(Bound);
        Assert.True(exitCode == 0, output);
        Assert.Contains($"Protocol version: {version}", output, StringComparison.Ordinal);
        Assert.Contains($"tls={version} ", await tpt.AccessLineAsync("t").WaitAsync(Bound), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("none", "require", "tls_client_failed", "NoClientCert")]
    [InlineData("client", "require", "completed", "Ok")]
    [InlineData("stranger", "require", "tls_client_failed", "Untrusted")]
    [InlineData("none", "optional", "completed", "Ok")]
    [InlineData("client", "optional", "completed", "Ok")]
    [InlineData("stranger", "optional", "tls_client_failed", "Untrusted")]
    public async Task Client_certificates_are_checked_against_client_ca(string certificate, string mode, string outcome, string result)
    {
        await using var tpt = Proxy(Enum.Parse<ClientCertificateMode>(mode, ignoreCase: true));
        string[] presented = certificate == "none" ? [] : ["-cert", _pki.Cert(certificate), "-key", _pki.Key(certificate)];

        await Peers.SClientAsync(tpt.EndPoint("t"), ["-servername", "exact.test", "-CAfile", _pki.Cert("ca"), .. presented]).WaitAsync(Bound);

        var line = await tpt.AccessLineAsync("t").WaitAsync(Bound);
        Assert.Contains($"outcome={outcome}", line, StringComparison.Ordinal);
        Assert.Equal(1, tpt.Metrics.TlsHandshakes.Count(TlsSide.Client, Enum.Parse<TlsHandshakeResult>(result)));
        if (outcome == "completed")
        {
            Assert.Contains(certificate == "client" ? "client_cert=\"CN=tpt test client\"" : "client_cert=-", line, StringComparison.Ordinal);
        }
        else
        {
            var reason = await tpt.Lines.WaitForAsync(l => l.Contains("TLS handshake with client", StringComparison.Ordinal)).WaitAsync(Bound);
            Assert.Contains(result == "NoClientCert" ? "no_client_cert: client_cert: require" : "untrusted: client certificate CN=stranger client not trusted", reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Alpn_is_negotiated_and_logged()
    {
        await using var tpt = Proxy(ClientCertificateMode.None, alpn: [SslApplicationProtocol.Http11]);

        // Without -brief: only the full output names the protocol chosen.
        var (exitCode, output) = await Task.Run(() => OpenSsl.Run(
            ["s_client", "-connect", tpt.EndPoint("t").ToString(), "-servername", "exact.test", "-CAfile", _pki.Cert("ca"), "-alpn", "h2,http/1.1"], stdin: "")).WaitAsync(Bound);
        Assert.True(exitCode == 0, output);
        Assert.True(output.Contains("ALPN protocol: http/1.1", StringComparison.Ordinal), output);
        Assert.Contains("alpn=http/1.1 ", await tpt.AccessLineAsync("t").WaitAsync(Bound), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_that_stops_after_its_hello_times_out_within_client_hello_timeout()
    {
        await using var tpt = Proxy(ClientCertificateMode.None, helloTimeout: TimeSpan.FromSeconds(1));
        var hello = await OpenSsl.CaptureClientHelloAsync("exact.test").WaitAsync(Bound);

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(tpt.EndPoint("t")).WaitAsync(Bound);
        await client.SendAsync(hello);

        var line = await tpt.AccessLineAsync("t").WaitAsync(Bound);
        Assert.Contains("hello=sni", line, StringComparison.Ordinal);
        Assert.Contains("outcome=tls_client_failed", line, StringComparison.Ordinal);
        var reason = await tpt.Lines.WaitForAsync(l => l.Contains("TLS handshake with client", StringComparison.Ordinal)).WaitAsync(Bound);
        Assert.Contains("timeout: no handshake within client_hello_timeout (1000 ms)", reason, StringComparison.Ordinal);
        Assert.Equal(1, tpt.Metrics.TlsHandshakes.Count(TlsSide.Client, TlsHandshakeResult.Timeout));
    }

    [Fact]
    public async Task A_client_that_leaves_during_the_handshake_is_counted_but_not_warned_about()
    {
        await using var tpt = Proxy(ClientCertificateMode.None);
        var hello = await OpenSsl.CaptureClientHelloAsync("exact.test").WaitAsync(Bound);

        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await client.ConnectAsync(tpt.EndPoint("t")).WaitAsync(Bound);
            await client.SendAsync(hello);
            client.Shutdown(SocketShutdown.Send);
        }

        Assert.Contains("outcome=tls_client_failed", await tpt.AccessLineAsync("t").WaitAsync(Bound), StringComparison.Ordinal);
        Assert.Equal(1, tpt.Metrics.TlsHandshakes.Count(TlsSide.Client, TlsHandshakeResult.Error));

        // A health check of a load balancer does this every few seconds: no check failed, so no warning.
        Assert.DoesNotContain(tpt.Lines.Snapshot(), l => l.Contains("TLS handshake with client", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_client_with_no_shared_protocol_version_is_a_protocol_failure()
    {
        await using var tpt = Proxy(ClientCertificateMode.None);

        var (exitCode, output) = await Peers.SClientAsync(tpt.EndPoint("t"), "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-servername", "exact.test").WaitAsync(Bound);
        Assert.NotEqual(0, exitCode);

        Assert.Contains("outcome=tls_client_failed", await tpt.AccessLineAsync("t").WaitAsync(Bound), StringComparison.Ordinal);
        var reason = await tpt.Lines.WaitForAsync(l => l.Contains("TLS handshake with client", StringComparison.Ordinal)).WaitAsync(Bound);
        Assert.True(reason.Contains("failed: protocol:", StringComparison.Ordinal), reason + "\n" + output);
        Assert.Equal(1, tpt.Metrics.TlsHandshakes.Count(TlsSide.Client, TlsHandshakeResult.Protocol));
    }

    [Theory]
    [InlineData("--tlsv1.2", "--tls-max", "1.2", "TLSv1.2")]
    [InlineData("--tlsv1.3", "--tls-max", "1.3", "TLSv1.3")]
    public async Task Curl_with_a_client_certificate_reaches_a_tls_upstream_through_terminate_and_originate(string min, string maxOption, string max, string version)
    {
        using var origin = await OpenSslPeer.ServerAsync("-cert", _pki.Cert("server"), "-key", _pki.Key("server"), "-www");
        await using var tpt = Proxy(
            ClientCertificateMode.Require,
            upstream: InProcessTpt.Upstream("up", "localhost", origin.Port, new UpstreamTlsSettings { ExtraRoots = [_pki.LoadPublic("ca")], CaOnly = true }));
        var port = tpt.EndPoint("t").Port;

        var (exitCode, stdout, stderr) = await Peers.CurlAsync(
            min, maxOption, max, "--cacert", _pki.Cert("ca"), "--cert", _pki.Cert("client"), "--key", _pki.Key("client"),
            "--resolve", $"a.wild.test:{port}:127.0.0.1", $"https://a.wild.test:{port}/").WaitAsync(Bound);
        Assert.True(exitCode == 0, stderr);
        Assert.Contains("subject: CN=*.wild.test", stderr, StringComparison.Ordinal);
        Assert.Contains($"SSL connection using {version}", stderr, StringComparison.Ordinal);

        // s_server -www answers with a page describing the TLS session it had with tpt.
        Assert.Contains("< HTTP/1.0 200 ok", stderr, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("<HTML>", stdout, StringComparison.Ordinal);
        var line = await tpt.AccessLineAsync("t").WaitAsync(Bound);
        Assert.Contains($"tls={version} ", line, StringComparison.Ordinal);
        Assert.Contains("client_cert=\"CN=tpt test client\" upstream_tls=TLSv1.3", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_name_from_client_forwards_the_clients_sni_to_the_upstream_and_checks_it()
    {
        // The upstream serves its trusted exact.test certificate only for SNI exact.test and refuses other names.
        using var origin = await OpenSslPeer.ServerAsync(
            "-cert", _pki.Cert("rogue"), "-key", _pki.Key("rogue"),
            "-servername", "exact.test", "-servername_fatal", "-cert2", _pki.Cert("exact"), "-key2", _pki.Key("exact"));
        await using var tpt = Proxy(
            ClientCertificateMode.None,
            upstream: InProcessTpt.Upstream("up", "127.0.0.1", origin.Port, new UpstreamTlsSettings { ServerNameFromClient = true, ExtraRoots = [_pki.LoadPublic("ca")], CaOnly = true }));

        var (exitCode, output) = await Peers.SClientAsync(tpt.EndPoint("t"), "-servername", "exact.test", "-CAfile", _pki.Cert("ca"), "-verify_return_error").WaitAsync(Bound);
        Assert.True(exitCode == 0, output);

        var line = await tpt.AccessLineAsync("t").WaitAsync(Bound);
        Assert.Contains("upstream_tls=TLSv1.3", line, StringComparison.Ordinal);
        Assert.Equal(1, tpt.Metrics.TlsHandshakes.Count(TlsSide.Upstream, TlsHandshakeResult.Ok));
    }

    [Fact]
    public async Task Curl_without_the_required_client_certificate_is_refused()
    {
        await using var tpt = Proxy(ClientCertificateMode.Require);
        var port = tpt.EndPoint("t").Port;

        var (exitCode, _, stderr) = await Peers.CurlAsync("--cacert", _pki.Cert("ca"), "--resolve", $"exact.test:{port}:127.0.0.1", $"https://exact.test:{port}/").WaitAsync(Bound);
        Assert.True(exitCode != 0, stderr);
        Assert.Contains("outcome=tls_client_failed", await tpt.AccessLineAsync("t").WaitAsync(Bound), StringComparison.Ordinal);
        Assert.Equal(1, tpt.Metrics.TlsHandshakes.Count(TlsSide.Client, TlsHandshakeResult.NoClientCert));
    }

    private InProcessTpt Proxy(ClientCertificateMode mode, IReadOnlyList<SslApplicationProtocol>? alpn = null, TimeSpan? helloTimeout = null, UpstreamConfig? upstream = null)
    {
        var terminate = new TerminateTlsSettings
        {
            Default = _pki.ServerCertificate("server"),
            Certificates = [new SniCertificate("exact.test", _pki.ServerCertificate("exact")), new SniCertificate("*.wild.test", _pki.ServerCertificate("wild"))],
            ClientCa = [_pki.LoadPublic("clientca")],
            ClientCertificate = mode,
            Alpn = alpn ?? [],
        };
        var server = InProcessTpt.Server("t", upstream is null ? "echo" : "up") with { TerminateTls = terminate };
        if (helloTimeout is { } timeout)
        {
            server = server with { ClientHelloTimeout = timeout };
        }

        var upstreams = new Dictionary<string, UpstreamConfig>();
        if (upstream is not null)
        {
            upstreams["up"] = upstream;
        }

        return new InProcessTpt([server], upstreams);
    }
}
