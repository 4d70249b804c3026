using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Reliability;

/// <summary>
/// Server names that try to inject into a CONNECT line, a DNS name or a log line. Through the real binary at
/// TPT_LOG=trace: each goes to the default route, nothing reaches the SNI-as-target proxy, and no output line
/// carries a raw control byte or the injected text.
/// </summary>
public sealed class SniInjectionTests
{
    public static TheoryData<string, byte[]> Hostile()
    {
        var data = new TheoryData<string, byte[]>();
        void Add(string label, string text) => data.Add(label, Encoding.UTF8.GetBytes(text));
        Add("crlf", "evil.test\r\nX-Injected: 1\r\n\r\nGET / HTTP/1.1");
        Add("lf", "evil.test\nX-Injected: 1");
        Add("nul", "evil.test\0.ok.test");
        Add("at", "user@evil.ok.test");
        Add("slash", "evil.ok.test/path");
        Add("port", "evil.ok.test:443");
        Add("ipv6", "[::1]");
        Add("ipv6-port", "[::1]:443");
        Add("long-300", string.Join('.', Enumerable.Repeat(new string('a', 59), 5)) + ".ok.test");
        Add("star", "*");
        Add("star-label", "*.ok.test");
        Add("space", "evil X-Injected.ok.test");
        Add("non-ascii", "évil.ok.test");
        data.Add("latin1-high", [0x65, 0xff, 0xfe, (byte)'.', (byte)'o', (byte)'k', (byte)'.', (byte)'t', (byte)'e', (byte)'s', (byte)'t']);
        Add("empty", "");
        return data;
    }

    [Fact]
    public async Task Hostile_sni_goes_to_default_never_to_the_proxy_and_is_never_logged_raw()
    {
        await using var proxy = new RecordingProxy();
        await using var fallback = new TestBackend("DEFAULT");
        using var config = new TempConfig($"""
            version: 2
            log: trace
            upstream:
              proxy: "tcp://127.0.0.1:{proxy.Port}"
              fallback: "tcp://{fallback.Address}"
            servers:
              routed:
                listen: ["127.0.0.1:0"]
                tls: true
                client_hello_timeout: 2s
                sni:
                  "*.ok.test": {"{"}upstream: proxy, via: {"{"}use_sni_as_target: true{"}"}{"}"}
                default: fallback
              connect_default:
                listen: ["127.0.0.1:0"]
                tls: true
                client_hello_timeout: 2s
                via: {"{"}use_sni_as_target: true{"}"}
                default: proxy
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 2, new Dictionary<string, string?> { ["TPT_LOG"] = "trace" });
        var cases = Hostile();
        foreach (var row in cases)
        {
            await OneAsync(tpt, fallback, (byte[])row[1]);
            Assert.True(proxy.Accepted == 0, $"{row[0]}: the proxy was contacted");
        }

        // The control: a valid name does reach the proxy, so the silence above means something.
        using (var client = await RawClient.ConnectAsync(tpt.EndPoint("routed")))
        {
            await client.SendAsync(CraftedHello.WithSni("Control.OK.test."));
            client.ShutdownSend();
            await client.ReadToEndAsync();
        }

        await tpt.WaitForLineAsync(l => l.Contains("sni=control.ok.test", StringComparison.Ordinal));
        Assert.Equal(1, proxy.Accepted);
        Assert.True(proxy.Requests.TryPeek(out var request));
        Assert.StartsWith("CONNECT control.ok.test:443 HTTP/1.1\r\n", request, StringComparison.Ordinal);

        // Every hostile connection on both servers has been logged by now (two access lines each).
        await tpt.WaitForLineAsync(l => l.Contains("server=connect_default", StringComparison.Ordinal), skipSeen: cases.Count - 1);
        AssertNothingRaw(tpt.AllOutput, "all");
    }

    private static async Task OneAsync(TptProcess tpt, TestBackend fallback, byte[] sni)
    {
        var hello = CraftedHello.WithSni(sni);

        // A server whose SNI routes go through the proxy: the hostile name falls through to default, byte-exact.
        using (var client = await RawClient.ConnectAsync(tpt.EndPoint("routed")))
        {
            await client.SendAsync(hello);
            Assert.Equal("DEFAULT", await client.ReadBannerAsync());
            client.ShutdownSend();
            await client.ReadToEndAsync();
        }

        Assert.Equal(TestBackend.Sha256(hello), TestBackend.Sha256(fallback.NextFinished().Received));

        // A server whose default itself is CONNECT-to-SNI: with no valid SNI there is no target, so the proxy gets nothing.
        using (var client = await RawClient.ConnectAsync(tpt.EndPoint("connect_default")))
        {
            await client.SendAsync(hello);
            var (data, _) = await client.ReadToEndAsync();
            Assert.Empty(data);
        }
    }

    [Fact]
    public async Task Hostile_sni_in_fragmented_records_is_still_not_routed_anywhere_but_default()
    {
        await using var fallback = new TestBackend("DEFAULT");
        using var config = new TempConfig($"""
            version: 2
            log: trace
            upstream:
              fallback: "tcp://{fallback.Address}"
            servers:
              routed:
                listen: ["127.0.0.1:0"]
                tls: true
                sni:
                  evil.test: ban
                default: fallback
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1, new Dictionary<string, string?> { ["TPT_LOG"] = "trace" });
        var hello = HelloSurgery.SplitEvery(CraftedHello.WithSni("evil.test\r\nX-Injected: 1"), 7);
        using var client = await RawClient.ConnectAsync(tpt.EndPoint("routed"));
        Assert.Equal((hello.Length - 1) / 3, await client.SendChunkedAsync(hello, 3));
        Assert.Equal("DEFAULT", await client.ReadBannerAsync());
        client.ShutdownSend();
        await client.ReadToEndAsync();
        Assert.Equal(TestBackend.Sha256(hello), TestBackend.Sha256(fallback.NextFinished().Received));
        await tpt.WaitForLineAsync(l => l.Contains("outcome=", StringComparison.Ordinal));
        AssertNothingRaw(tpt.AllOutput, "fragmented");
    }

    private static void AssertNothingRaw(string output, string label)
    {
        Assert.DoesNotContain("X-Injected", output, StringComparison.Ordinal);
        Assert.DoesNotContain("evil.test\\r", output, StringComparison.Ordinal);
        Assert.DoesNotContain("\r", output, StringComparison.Ordinal);
        Assert.DoesNotContain("\0", output, StringComparison.Ordinal);
        Assert.DoesNotContain("évil", output, StringComparison.Ordinal);
        Assert.DoesNotContain("user@evil", output, StringComparison.Ordinal);
        Assert.DoesNotContain("[::1]:443", output, StringComparison.Ordinal);
        foreach (var line in output.Split('\n'))
        {
            Assert.False(line.Any(c => c < 0x20 && c != '\t'), $"{label}: control byte in output line: {line}");
        }
    }
}
