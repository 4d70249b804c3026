using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.TlsData;

/// <summary>
/// The real tpt binary with TLS configured in its file (loader, certificates, data path together), against real
/// peers: curl through terminate + originate to openssl s_server, and openssl s_server -Verify 1 as the upstream.
/// </summary>
public sealed class TlsEndToEndTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task Curl_with_a_client_certificate_goes_through_terminate_and_originate_and_the_metrics_count_both_handshakes()
    {
        using var origin = await OpenSslPeer.ServerAsync(
            "-cert", _pki.Cert("server"), "-key", _pki.Key("server"), "-Verify", "1", "-CAfile", _pki.Cert("clientca"), "-www");
        using var config = new TempConfig($"""
            version: 2
            servers:
              front:
                listen: ["127.0.0.1:0"]
                terminate_tls:
                  cert: {_pki.Cert("server")}
                  key: {_pki.Key("server")}
                  certs:
                    "*.wild.test":
                      cert: {_pki.Cert("wild")}
                      key: {_pki.Key("wild")}
                  client_ca: {_pki.Cert("clientca")}
                  client_cert: require
                default: origin
              probes:
                listen: ["127.0.0.1:0"]
                default: health
            upstream:
              origin:
                address: "tcp://localhost:{origin.Port}"
                connect_timeout: 5s
                tls:
                  ca: {_pki.Cert("ca")}
                  ca_only: true
                  cert: {_pki.Cert("client")}
                  key: {_pki.Key("client")}
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 2);
        var port = tpt.EndPoint("front").Port;

        var (exitCode, stdout, stderr) = await Peers.CurlAsync(
            "--cacert", _pki.Cert("ca"), "--cert", _pki.Cert("client"), "--key", _pki.Key("client"),
            "--resolve", $"www.wild.test:{port}:127.0.0.1", $"https://www.wild.test:{port}/").WaitAsync(Bound);
        Assert.True(exitCode == 0, stderr);
        Assert.Contains("subject: CN=*.wild.test", stderr, StringComparison.Ordinal);
        Assert.Contains("<HTML>", stdout, StringComparison.Ordinal);

        var line = await tpt.WaitForLineAsync(l => l.Contains("server=front ", StringComparison.Ordinal) && l.Contains(" outcome=", StringComparison.Ordinal));
        Assert.Contains("sni=www.wild.test hello=sni", line, StringComparison.Ordinal);
        Assert.Contains("client_cert=\"CN=tpt test client\" upstream_tls=TLSv1.3", line, StringComparison.Ordinal);

        // Without a client certificate: refused by tpt, counted, and the next client is served as before.
        var (refused, _, _) = await Peers.CurlAsync("--cacert", _pki.Cert("ca"), "--resolve", $"www.wild.test:{port}:127.0.0.1", $"https://www.wild.test:{port}/").WaitAsync(Bound);
        Assert.NotEqual(0, refused);
        await tpt.WaitForLineAsync(l => l.Contains("server=front ", StringComparison.Ordinal) && l.Contains("outcome=tls_client_failed", StringComparison.Ordinal));

        var metrics = await HttpProbe.GetAsync(tpt.EndPoint("probes"), "/metrics");
        Assert.Contains("tpt_tls_handshakes_total{side=\"client\",result=\"ok\"} 1", metrics.Body, StringComparison.Ordinal);
        Assert.Contains("tpt_tls_handshakes_total{side=\"client\",result=\"no_client_cert\"} 1", metrics.Body, StringComparison.Ordinal);
        Assert.Contains("tpt_tls_handshakes_total{side=\"upstream\",result=\"ok\"} 1", metrics.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_health_server_behind_terminate_tls_answers_over_https()
    {
        using var config = new TempConfig($"""
            version: 2
            servers:
              probes:
                listen: ["127.0.0.1:0"]
                terminate_tls:
                  cert: {_pki.Cert("server")}
                  key: {_pki.Key("server")}
                default: health
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1);
        var port = tpt.EndPoint("probes").Port;
        foreach (var (path, body) in new[] { ("/health", "OK"), ("/ready", "READY") })
        {
            var (exitCode, stdout, stderr) = await Peers.CurlAsync(
                "--cacert", _pki.Cert("ca"), "--resolve", $"localhost:{port}:127.0.0.1", $"https://localhost:{port}{path}").WaitAsync(Bound);
            Assert.True(exitCode == 0, stderr);
            Assert.Equal(body, stdout);
        }

        var (metricsExit, metrics, metricsError) = await Peers.CurlAsync(
            "--cacert", _pki.Cert("ca"), "--resolve", $"localhost:{port}:127.0.0.1", $"https://localhost:{port}/metrics").WaitAsync(Bound);
        Assert.True(metricsExit == 0, metricsError);

        // The status line curl -v shows, not "no 400 anywhere": its trace also holds the port, byte counts and
        // lengths, any of which may contain 400.
        Assert.Contains("< HTTP/1.1 200 OK", metricsError, StringComparison.Ordinal);
        Assert.Contains("tpt_tls_handshakes_total{side=\"client\",result=\"ok\"} 3", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_name_from_the_environment_is_logged_as_written_never_expanded()
    {
        using var server = await OpenSslPeer.ServerAsync("-cert", _pki.Cert("server"), "-key", _pki.Key("server"));
        using var config = new TempConfig($$"""
            version: 2
            servers:
              s:
                listen: ["127.0.0.1:0"]
                default: hub
            upstream:
              hub:
                address: "tcp://localhost:{{server.Port}}"
                tls:
                  server_name: ${HUB_NAME}
                  ca: {{_pki.Cert("ca")}}
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1, environment: new Dictionary<string, string?> { ["HUB_NAME"] = "secret-name.test" });

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(tpt.EndPoint("s")).WaitAsync(Bound);
        await UpstreamTlsTests.AssertClosedAsync(client);
        var line = await tpt.WaitForLineAsync(l => l.Contains("TLS handshake with upstream", StringComparison.Ordinal));
        Assert.Contains("(server name ${HUB_NAME}) failed: name_mismatch", line, StringComparison.Ordinal);
        Assert.Contains("does not name '${HUB_NAME}'", line, StringComparison.Ordinal);
        await tpt.WaitForLineAsync(l => l.Contains("outcome=tls_upstream_failed", StringComparison.Ordinal));
        Assert.DoesNotContain("secret-name", tpt.AllOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_upstream_with_default_tls_settings_sends_and_checks_localhost_and_a_wrong_server_name_is_refused()
    {
        using var server = await OpenSslPeer.ServerAsync(
            "-cert", _pki.Cert("rogue"), "-key", _pki.Key("rogue"),
            "-servername", "localhost", "-servername_fatal", "-cert2", _pki.Cert("server"), "-key2", _pki.Key("server"),
            "-Verify", "1", "-CAfile", _pki.Cert("clientca"));
        using var config = new TempConfig($"""
            version: 2
            servers:
              good:
                listen: ["127.0.0.1:0"]
                default: hub
              wrong:
                listen: ["127.0.0.1:0"]
                default: wrongname
            upstream:
              hub:
                address: "tcp://localhost:{server.Port}"
                tls:
                  ca: {_pki.Cert("ca")}
                  cert: {_pki.Cert("client")}
                  key: {_pki.Key("client")}
              wrongname:
                address: "tcp://localhost:{server.Port}"
                tls:
                  server_name: wrong.test
                  verify: chain
                  ca: {_pki.Cert("ca")}
                  cert: {_pki.Cert("client")}
                  key: {_pki.Key("client")}
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 2);

        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await client.ConnectAsync(tpt.EndPoint("good")).WaitAsync(Bound);
            await client.SendAsync(Encoding.ASCII.GetBytes("hello hub\n"));
            await server.WaitForLineAsync(l => l.Contains("hello hub", StringComparison.Ordinal)).WaitAsync(Bound);
        }

        await tpt.WaitForLineAsync(l => l.Contains("server=good ", StringComparison.Ordinal) && l.Contains("upstream_tls=TLSv1.3", StringComparison.Ordinal));

        // verify: chain does not check the name, but the server refuses SNI wrong.test (-servername_fatal): the
        // client is closed and the log says the handshake failed.
        using var refused = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await refused.ConnectAsync(tpt.EndPoint("wrong")).WaitAsync(Bound);
        await UpstreamTlsTests.AssertClosedAsync(refused);
        await tpt.WaitForLineAsync(l => l.Contains("TLS handshake with upstream", StringComparison.Ordinal) && l.Contains("server name wrong.test", StringComparison.Ordinal));
        await tpt.WaitForLineAsync(l => l.Contains("server=wrong ", StringComparison.Ordinal) && l.Contains("outcome=tls_upstream_failed", StringComparison.Ordinal));
    }
}
