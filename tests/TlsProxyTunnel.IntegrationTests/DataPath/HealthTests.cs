using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.Reliability;

namespace TlsProxyTunnel.IntegrationTests.DataPath;

public sealed class HealthTests(RouterFixture router) : IClassFixture<RouterFixture>
{
    private System.Net.IPEndPoint Health => router.Tpt.EndPoint("health");

    [Theory]
    [InlineData("/health")]
    [InlineData("/healthz")]
    [InlineData("/")]
    public async Task Any_path_answers_200_OK(string path)
    {
        var answer = await HttpProbe.GetAsync(Health, path);
        Assert.Equal(200, answer.Status);
        Assert.Equal("OK", answer.Body);
    }

    [Fact]
    public async Task Ready_answers_200_once_every_listener_is_bound()
    {
        var answer = await HttpProbe.GetAsync(Health, "/ready");
        Assert.Equal(200, answer.Status);
    }

    [Fact]
    public async Task Metrics_are_prometheus_text_with_the_tls_proxy_tunnel_gauges_and_counters()
    {
        // Make one routed connection so counters have something to count.
        var hello = await OpenSsl.CaptureClientHelloAsync("a.example.test");
        using (var client = await RawClient.ConnectAsync(router.Tpt.EndPoint("tls")))
        {
            await client.SendAsync(hello);
            client.ShutdownSend();
            await client.ReadToEndAsync();
        }

        router.A.NextFinished();
        var answer = await HttpProbe.GetAsync(Health, "/metrics");
        Assert.Equal(200, answer.Status);
        Assert.Contains("Content-Type: text/plain; version=0.0.4; charset=utf-8", answer.Headers, StringComparison.OrdinalIgnoreCase);
        var tls = router.Tpt.EndPoint("tls").ToString();
        Assert.Contains($"tpt_maxclients{{name=\"tls\",listen=\"{tls}\"}} 200", answer.Body, StringComparison.Ordinal);
        Assert.Contains($"tpt_active_connections{{name=\"tls\",listen=\"{tls}\"}}", answer.Body, StringComparison.Ordinal);
        Assert.Matches(@"tpt_connections_accepted_total\{name=""tls""\} [1-9]", answer.Body);
        Assert.Matches(@"tpt_client_hello_total\{name=""tls"",outcome=""sni""\} [1-9]", answer.Body);
        Assert.Matches(@"tpt_route_total\{name=""tls"",route=""a.example.test"",upstream=""a""\} [1-9]", answer.Body);
        Assert.Contains("# TYPE tpt_connection_duration_seconds histogram", answer.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_metrics_agree_with_what_proc_says_of_the_process()
    {
        var answer = await HttpProbe.GetAsync(Health, "/metrics");
        var rss = Sample(answer.Body, "process_resident_memory_bytes");
        var fds = Sample(answer.Body, "process_open_fds");
        var procRss = ProcessProbe.RssKib(router.Tpt.Pid) * 1024.0;
        var procFds = ProcessProbe.OpenFileCount(router.Tpt.Pid);

        // Read a moment apart from a live process: close, not equal.
        Assert.InRange(rss, procRss * 0.8, procRss * 1.25);
        Assert.InRange(fds, procFds - 8, procFds + 8);
        Assert.Contains("# TYPE tpt_memory_trims_total counter", answer.Body, StringComparison.Ordinal);
    }

    private static double Sample(string body, string name)
    {
        var match = System.Text.RegularExpressions.Regex.Match(body, $"^{name} (\\S+)$", System.Text.RegularExpressions.RegexOptions.Multiline);
        Assert.True(match.Success, $"{name} missing from /metrics");
        return double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Keep_alive_serves_several_requests_on_one_connection()
    {
        using var client = await RawClient.ConnectAsync(Health);
        await client.SendAsync(Encoding.ASCII.GetBytes("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        var (data, clean) = await client.ReadToEndAsync();
        var text = Encoding.ASCII.GetString(data);
        Assert.True(clean);
        Assert.Equal(2, text.Split("HTTP/1.1 200 OK").Length - 1);
    }

    [Theory]
    [InlineData("garbage\r\n\r\n")]
    [InlineData("GET / HTTP/9.9\r\n\r\n")]
    [InlineData("GET /\u0001 HTTP/1.1\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nBad Header\r\n\r\n")]
    public async Task Malformed_requests_get_400_and_a_close(string request)
    {
        using var client = await RawClient.ConnectAsync(Health);
        await client.SendAsync(Encoding.ASCII.GetBytes(request));
        var (data, _) = await client.ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 400 Bad Request", Encoding.ASCII.GetString(data), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_oversized_request_head_is_refused_and_closed()
    {
        using var client = await RawClient.ConnectAsync(Health);
        await client.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nX: " + new string('a', 10_000) + "\r\n\r\n"));
        var (data, _) = await client.ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 431", Encoding.ASCII.GetString(data), StringComparison.Ordinal);
    }
}
