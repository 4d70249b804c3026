using System.Text;
using TlsProxyTunnel.IntegrationTests.Fixtures;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Via;

/// <summary>The tpt binary against a tinyproxy that demands Basic credentials.</summary>
public sealed class ViaAuthTests
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(15);

    // Kept out of the interpolated YAML so "${CRED}" reaches tpt literally and tpt expands it.
    private const string CredentialReference = "${CRED}";

    [Fact]
    public async Task Auth_and_an_env_header_are_accepted_a_missing_credential_gets_407_and_no_credential_is_ever_logged()
    {
        // Unique per run, so finding it anywhere in the output can only mean tpt leaked it.
        var password = "pw" + Guid.NewGuid().ToString("N")[..16];
        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes($"tpt:{password}"));
        await using var proxy = await TinyproxyFixture.StartAsync(("tpt", password)).WaitAsync(TestTimeout);
        await using var backend = new TestBackend("AUTH");
        await using var tpt = await TptRun.StartAsync($"""
            version: 2
            servers:
              auth:
                listen: ["127.0.0.1:0"]
                tls: true
                default: proxy
                via:
                  target: "{backend.Address}"
                  handshake_timeout: 5s
                  auth:
                    username: tpt
                    password: "{password}"
              header:
                listen: ["127.0.0.1:0"]
                tls: true
                default: proxy
                via:
                  target: "{backend.Address}"
                  handshake_timeout: 5s
                  headers:
                    Proxy-Authorization: "Basic {CredentialReference}"
              missing:
                listen: ["127.0.0.1:0"]
                tls: true
                default: proxy
                via:
                  target: "{backend.Address}"
                  handshake_timeout: 5s
              health:
                listen: ["127.0.0.1:0"]
                default: health
            upstream:
              proxy: "tcp://{proxy.EndPoint}"
            """,
            listeners: 4,
            // The credential exists only in the child's environment; the test process's is never touched.
            environment: new Dictionary<string, string?> { ["CRED"] = encoded, ["TPT_LOG"] = "trace" }).WaitAsync(TestTimeout);
        var hello = await OpenSsl.CaptureClientHelloAsync("auth.via.test").WaitAsync(TestTimeout);

        await ViaAssert.RoundTripAsync(tpt.EndPoint("auth"), hello, backend, proxy.Output).WaitAsync(TestTimeout);
        await ViaAssert.RoundTripAsync(tpt.EndPoint("header"), hello, backend, proxy.Output).WaitAsync(TestTimeout);

        await ViaAssert.ClosedWithoutBytesAsync(tpt.EndPoint("missing"), hello).WaitAsync(TestTimeout);
        var warning = await tpt.Process.WaitForLineAsync(l => l.Contains("refused: 407", StringComparison.Ordinal));
        Assert.Contains("warn", warning, StringComparison.Ordinal);
        Assert.Equal(2, backend.Accepted);
        Assert.Equal(1, await tpt.MetricAsync("health", "tpt_connect_responses_total{status=\"407\"}").WaitAsync(TestTimeout));
        Assert.Equal(2, await tpt.MetricAsync("health", "tpt_connect_responses_total{status=\"200\"}").WaitAsync(TestTimeout));

        // TPT_LOG=trace (dbug lines prove the level took), three CONNECTs with and without credentials: neither the password nor the header value shows.
        await tpt.Process.WaitForLineAsync(l => l.Contains("server=missing", StringComparison.Ordinal) && l.Contains("outcome=proxy_refused", StringComparison.Ordinal));
        var output = tpt.Process.AllOutput;
        Assert.Contains("dbug:", output, StringComparison.Ordinal);
        Assert.DoesNotContain(password, output, StringComparison.Ordinal);
        Assert.DoesNotContain(encoded, output, StringComparison.Ordinal);
    }
}
