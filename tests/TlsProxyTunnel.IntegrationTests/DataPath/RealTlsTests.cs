using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.DataPath;

/// <summary>Real TLS clients through the router to real TLS servers: the router must not disturb the handshake.</summary>
public sealed class RealTlsTests : IAsyncLifetime
{
    private OpenSslServer _a = null!;
    private OpenSslServer _b = null!;
    private TempConfig _config = null!;
    private TptProcess _tpt = null!;

    public async Task InitializeAsync()
    {
        _a = await OpenSslServer.StartAsync("a.tls.test");
        _b = await OpenSslServer.StartAsync("b.tls.test");
        _config = new TempConfig($"""
            version: 2
            servers:
              tls:
                listen: ["127.0.0.1:0"]
                tls: true
                sni:
                  a.tls.test: a
                  "*.b.tls.test": b
                  b.tls.test: b
            upstream:
              a: "tcp://127.0.0.1:{_a.Port}"
              b: "tcp4://localhost:{_b.Port}"
            """);
        _tpt = await TptProcess.StartAsync(_config.Path, 1);
    }

    public async Task DisposeAsync()
    {
        await _tpt.DisposeAsync();
        _a.Dispose();
        _b.Dispose();
        _config.Dispose();
    }

    [Theory]
    [InlineData("a.tls.test", "a.tls.test")]
    [InlineData("b.tls.test", "b.tls.test")]
    [InlineData("www.b.tls.test", "b.tls.test")]
    public async Task Openssl_s_client_completes_a_handshake_with_the_backend_chosen_by_sni(string serverName, string expectedCertificate)
    {
        var (exitCode, output) = await Task.Run(() => OpenSsl.Client(_tpt.EndPoint("tls"), serverName));
        Assert.True(exitCode == 0, output);
        Assert.Contains($"CN = {expectedCertificate}", output, StringComparison.Ordinal);
        Assert.Contains("New, TLSv1.3", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Curl_fetches_a_page_from_the_tls_backend_through_the_router()
    {
        var port = _tpt.EndPoint("tls").Port;
        var (cert, _) = TestCertificates.For("a.tls.test");
        var answer = await HttpProbe.CurlAsync(["--cacert", cert, "--resolve", $"a.tls.test:{port}:127.0.0.1", $"https://a.tls.test:{port}/"]);
        Assert.Equal(200, answer.Status);
        Assert.Contains("Ciphers supported in s_server binary", answer.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unrouted_name_is_banned_by_default()
    {
        var (exitCode, output) = await Task.Run(() => OpenSsl.Client(_tpt.EndPoint("tls"), "nobody.test"));
        Assert.NotEqual(0, exitCode);
        Assert.DoesNotContain("CN = ", output, StringComparison.Ordinal);
    }
}
