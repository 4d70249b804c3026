using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Reliability;

/// <summary>
/// Proxy credentials and values expanded from the environment reach the proxy, and nothing else: not the logs at
/// trace level, not `tpt check`, not /metrics, not the status page.
/// </summary>
public sealed class SecretsTests
{
    private static readonly Dictionary<string, string?> Environment = new()
    {
        ["PROXY_USER"] = "env-user-7f3a1d",
        ["PROXY_PASS"] = "Env-Pa55-9c1e0b",
        ["TOKEN"] = "tok-5b7d2e94",
        ["TARGET_HOST"] = "secret-target-31c8.test",
        ["PICKED"] = "echo",
        ["TPT_LOG"] = "trace",
    };

    [Fact]
    public async Task Credentials_and_environment_values_are_sent_to_the_proxy_and_shown_nowhere()
    {
        await using var proxy = new RecordingProxy();
        using var config = new TempConfig($$$"""
            version: 2
            log: trace
            upstream:
              proxy: "tcp://127.0.0.1:{{{proxy.Port}}}"
            servers:
              r:
                listen: ["127.0.0.1:0"]
                tls: true
                sni:
                  lit.test:
                    upstream: proxy
                    via: {target: "inner.test:443", stats_interval: 50ms, auth: {username: literal-user, password: "Literal-Pa55-Secret"}}
                  env.test:
                    upstream: proxy
                    via: {target: "${TARGET_HOST}:443", stats_interval: 50ms, auth: {username: "${PROXY_USER}", password: "${PROXY_PASS}"}, headers: {X-Token: "${TOKEN}"}}
                default: ban
              picked:
                listen: ["127.0.0.1:0"]
                default: "${PICKED}"
              health:
                listen: ["127.0.0.1:0"]
                default: health
            """);
        string[] secrets =
        [
            Basic("literal-user", "Literal-Pa55-Secret"),
            Basic("env-user-7f3a1d", "Env-Pa55-9c1e0b"),
            "Literal-Pa55-Secret",
            "env-user-7f3a1d",
            "Env-Pa55-9c1e0b",
            "tok-5b7d2e94",
            "secret-target-31c8",
        ];

        var tpt = await TptProcess.StartAsync(config.Path, 3, Environment);
        string metrics, statusHtml, statusJson;
        await using (tpt)
        {
            foreach (var name in new[] { "lit.test", "env.test" })
            {
                using var client = await RawClient.ConnectAsync(tpt.EndPoint("r"));
                var hello = CraftedHello.WithSni(name);
                await client.SendAsync(hello);
                Assert.Equal(hello, await client.ReadExactlyAsync(hello.Length));
                await tpt.WaitForLineAsync(l => l.Contains("in flight", StringComparison.OrdinalIgnoreCase) || l.Contains("rx=", StringComparison.Ordinal));
                client.ShutdownSend();
                await client.ReadToEndAsync();
            }

            metrics = (await HttpProbe.GetAsync(tpt.EndPoint("health"), "/metrics")).Body;
            statusHtml = (await HttpProbe.GetAsync(tpt.EndPoint("health"), "/status")).Body;
            statusJson = (await HttpProbe.GetAsync(tpt.EndPoint("health"), "/status?format=json")).Body;
            tpt.Signal(TptProcess.SIGTERM);
            Assert.Equal(0, await tpt.WaitForExitAsync());
        }

        // The proxy did get them: the values were really in use.
        var requests = string.Join("\n", proxy.Requests);
        Assert.Contains($"Proxy-Authorization: Basic {secrets[0]}\r\n", requests, StringComparison.Ordinal);
        Assert.Contains($"Proxy-Authorization: Basic {secrets[1]}\r\n", requests, StringComparison.Ordinal);
        Assert.Contains("X-Token: tok-5b7d2e94\r\n", requests, StringComparison.Ordinal);
        Assert.Contains("CONNECT secret-target-31c8.test:443 HTTP/1.1", requests, StringComparison.Ordinal);

        var check = await TptProcess.RunToExitAsync(["check", "-c", config.Path], Environment);
        Assert.Equal(0, check.ExitCode);
        Assert.Contains("env.test", check.Stdout + check.Stderr, StringComparison.Ordinal);

        // A route whose upstream the environment chose is labelled with the name as written, as tpt check shows it.
        Assert.Contains("tpt_route_total{name=\"picked\",route=\"default\",upstream=\"${PICKED}\"}", metrics, StringComparison.Ordinal);

        // The status page shows the via as written, so it was really rendered.
        Assert.Contains("CONNECT ${TARGET_HOST}:443", statusJson, StringComparison.Ordinal);
        foreach (var (where, text) in new[] { ("logs", tpt.AllOutput), ("tpt check", check.Stdout + check.Stderr), ("/metrics", metrics), ("/status", statusHtml), ("/status?format=json", statusJson) })
        {
            Assert.Contains("tpt", text, StringComparison.Ordinal);
            foreach (var secret in secrets)
            {
                Assert.False(text.Contains(secret, StringComparison.Ordinal), $"{where} shows '{secret}':\n{text}");
            }
        }
    }

    private static string Basic(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
}
