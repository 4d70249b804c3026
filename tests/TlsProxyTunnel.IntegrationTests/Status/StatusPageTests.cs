using System.Net;
using System.Text.Json;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Status;

/// <summary>GET /status on the real binary, read by curl and by a real browser.</summary>
public sealed class StatusPageTests(StatusPageFixture fixture) : IClassFixture<StatusPageFixture>
{
    private IPEndPoint Health => fixture.Tpt.EndPoint("health");

    [Fact]
    public async Task Json_counts_the_routed_connections_from_the_same_instruments_as_metrics()
    {
        var answer = await HttpProbe.GetAsync(Health, "/status?format=json");
        Assert.Equal(200, answer.Status);
        Assert.Contains("Content-Type: application/json; charset=utf-8", answer.Headers, StringComparison.OrdinalIgnoreCase);
        using var document = JsonDocument.Parse(answer.Body);
        var root = document.RootElement;

        var process = root.GetProperty("process");
        Assert.Equal(1, process.GetProperty("config_generation").GetInt64());
        Assert.Equal("ready", process.GetProperty("ready").GetString());
        Assert.Equal(fixture.Tpt.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), process.GetProperty("pid").GetString());

        var servers = root.GetProperty("servers").GetProperty("rows").EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!);
        var edge = servers[StatusPageFixture.OddServer];
        var routed = StatusPageFixture.AppConnections + 3;
        Assert.Equal(routed, edge.GetProperty("accepted").GetInt64());
        Assert.Equal(0, edge.GetProperty("active").GetInt64());
        Assert.Equal(50, edge.GetProperty("max").GetInt64());
        Assert.Equal([fixture.Tpt.EndPoint(StatusPageFixture.OddServer).ToString()], edge.GetProperty("listen").EnumerateArray().Select(e => e.GetString()));

        // The refused connect and the 407 end as errors; the banned one does not.
        Assert.Equal(2, edge.GetProperty("errored").GetInt64());
        var limited = servers["limited"];
        Assert.Equal(1, limited.GetProperty("active").GetInt64());
        Assert.Equal(1, limited.GetProperty("max").GetInt64());
        Assert.Equal(1, limited.GetProperty("accepted").GetInt64());
        Assert.Equal(1, limited.GetProperty("rejected").GetInt64());

        var routes = root.GetProperty("routes").GetProperty("rows").EnumerateArray()
            .Where(r => r.GetProperty("server").GetString() == StatusPageFixture.OddServer)
            .ToDictionary(r => r.GetProperty("route").GetString()!, r => r.GetProperty("connections").GetInt64());
        Assert.Equal(StatusPageFixture.AppConnections, routes["app.example.test"]);
        Assert.Equal(1, routes["down.example.test"]);
        Assert.Equal(1, routes["proxied.example.test"]);
        Assert.Equal(1, routes["default"]);

        var failures = root.GetProperty("upstreams").GetProperty("rows").EnumerateArray().ToDictionary(r => r.GetProperty("upstream").GetString()!, r => r.GetProperty("connect_failures").GetInt64());
        Assert.Equal(1, failures["down"]);
        Assert.Equal(0, failures["app"]);

        var connect = Assert.Single(root.GetProperty("connect").GetProperty("rows").EnumerateArray());
        Assert.Equal("407", connect.GetProperty("outcome").GetString());
        Assert.Equal(1, connect.GetProperty("count").GetInt64());

        var app = root.GetProperty("dns").GetProperty("rows").EnumerateArray().Single(r => r.GetProperty("upstream").GetString() == "app");
        Assert.Equal("fresh", app.GetProperty("state").GetString());
        Assert.Equal(["127.0.0.1"], app.GetProperty("addresses").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(300, app.GetProperty("ttl_seconds").GetDouble());
        Assert.InRange(app.GetProperty("age_seconds").GetDouble(), 0, 300);

        // The same counters /metrics shows.
        var metrics = (await HttpProbe.GetAsync(Health, "/metrics")).Body;
        Assert.Contains("tpt_upstream_connect_failures_total{upstream=\"down\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains($"tpt_connections_accepted_total{{name=\"limited\"}} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("tpt_connect_responses_total{status=\"407\"} 1", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Html_is_served_with_a_policy_that_allows_only_its_inline_style_and_head_sends_no_body()
    {
        var get = await HttpProbe.GetAsync(Health, "/status");
        Assert.Equal(200, get.Status);
        Assert.Contains("Content-Type: text/html; charset=utf-8", get.Headers, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'", get.Headers, StringComparison.OrdinalIgnoreCase);
        Assert.StartsWith("<!DOCTYPE html>", get.Body, StringComparison.Ordinal);

        var head = await HttpProbe.GetAsync(Health, "/status?format=json", "-I");
        Assert.Equal(200, head.Status);
        Assert.Contains("Content-Type: application/json", head.Headers, StringComparison.OrdinalIgnoreCase);
        Assert.Matches(@"Content-Length: [1-9][0-9]+", head.Headers);
        Assert.Equal("", head.Body);
    }

    [Fact]
    public async Task A_browser_renders_the_page_with_the_names_and_counts_and_a_screenshot_is_saved()
    {
        var dom = await Chromium.DumpDomAsync(fixture.StatusUrl);

        // The odd name arrived as text: the serialised DOM escapes it again, and no element came of it.
        Assert.Contains("<td>edge &lt;\"main\"&gt; &amp; co</td>", dom, StringComparison.Ordinal);
        Assert.DoesNotContain("<main", dom, StringComparison.Ordinal);
        Assert.Contains("<td>limited</td>", dom, StringComparison.Ordinal);
        Assert.Contains("<td>health</td>", dom, StringComparison.Ordinal);
        Assert.Contains("<h2>DNS answers</h2>", dom, StringComparison.Ordinal);
        Assert.Matches(@"<td>app\.example\.test</td><td>app</td><td>tcp://app\.status\.test:\d+</td><td>direct</td><td class=""n"">3</td>", dom);
        Assert.Matches(@"<td class=""n"">6</td>", dom);
        Assert.Contains("<td class=\"bad\">407</td>", dom, StringComparison.Ordinal);

        var file = Path.Combine(AppContext.BaseDirectory, "status-page.png");
        await Chromium.ScreenshotAsync(fixture.StatusUrl, file);
        var png = await File.ReadAllBytesAsync(file);
        Assert.True(png.Length > 10_000, $"the screenshot at {file} is only {png.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);

        if (Environment.GetEnvironmentVariable("TPT_STATUS_SCREENSHOT") is { Length: > 0 } docs)
        {
            await TakeDocsScreenshotAsync(docs);
        }
    }

    /// <summary>
    /// The README's picture (docs/status-page.png): TPT_STATUS_SCREENSHOT=path takes it from a tpt of its own
    /// that has served the example traffic for over a minute, so every rate has a value.
    /// </summary>
    private static async Task TakeDocsScreenshotAsync(string path)
    {
        var own = new StatusPageFixture();
        await own.InitializeAsync();
        try
        {
            var until = DateTime.UtcNow + CounterWindow;
            while (DateTime.UtcNow < until)
            {
                await own.SendExampleTrafficAsync();
                await Task.Delay(TimeSpan.FromSeconds(2));
            }

            await Chromium.ScreenshotAsync(own.StatusUrl, Path.GetFullPath(path), 1280, 1400);
        }
        finally
        {
            await own.DisposeAsync();
        }
    }

    // The longest rate window plus two sample intervals.
    private static readonly TimeSpan CounterWindow = TimeSpan.FromSeconds(70);
}
