using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.TlsData;

/// <summary>
/// HAProxy as the TLS server, with the frontend from ptw's README (<c>bind ... ssl crt ... ca-file ... verify
/// required</c>): the server ptw users pair with. The real tpt binary originates TLS to it with a client certificate.
/// </summary>
public sealed class HaproxyTlsTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task Tpt_presents_its_client_certificate_to_haproxy_and_a_missing_one_is_refused()
    {
        var port = FreePort.Tcp();
        var pem = Path.Combine(_pki.Directory, "server.pem");
        await File.WriteAllTextAsync(pem, await File.ReadAllTextAsync(_pki.Cert("server")) + await File.ReadAllTextAsync(_pki.Key("server")));
        await using var haproxy = await HaproxyProcess.StartAsync($"""
            defaults
              mode http
              timeout connect 5s
              timeout client 10s
              timeout server 10s
            frontend tls
              bind 127.0.0.1:{port} ssl crt {pem} ca-file {_pki.Cert("clientca")} verify required
              http-request return status 200 content-type text/plain lf-string "haproxy saw %[ssl_c_s_dn] over %[ssl_fc_protocol]\n"
            """, port);
        using var config = new TempConfig($"""
            version: 2
            servers:
              withcert:
                listen: ["127.0.0.1:0"]
                default: hub
              withoutcert:
                listen: ["127.0.0.1:0"]
                default: hubnocert
            upstream:
              hub:
                address: "tcp://localhost:{port}"
                tls:
                  ca: {_pki.Cert("ca")}
                  cert: {_pki.Cert("client")}
                  key: {_pki.Key("client")}
              hubnocert:
                address: "tcp://localhost:{port}"
                tls:
                  ca: {_pki.Cert("ca")}
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 2);

        var answer = await HttpProbe.GetAsync(tpt.EndPoint("withcert"), "/").WaitAsync(Bound);
        Assert.Equal(200, answer.Status);
        Assert.Contains("haproxy saw /CN=tpt test client over TLSv1.3", answer.Body, StringComparison.Ordinal);
        await tpt.WaitForLineAsync(l => l.Contains("server=withcert ", StringComparison.Ordinal) && l.Contains("upstream_tls=TLSv1.3", StringComparison.Ordinal));

        var (exitCode, _, stderr) = await Peers.CurlAsync($"http://{tpt.EndPoint("withoutcert")}/").WaitAsync(Bound);
        Assert.True(exitCode != 0, stderr);
        await tpt.WaitForLineAsync(l => l.Contains("server=withoutcert ", StringComparison.Ordinal) && l.Contains("outcome=tls_upstream_failed", StringComparison.Ordinal));
    }
}
