using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.DataPath;

public sealed class RoutingTests(RouterFixture router) : IClassFixture<RouterFixture>
{
    private System.Net.IPEndPoint Tls => router.Tpt.EndPoint("tls");

    /// <summary>Sends the bytes, checks the backend's banner, then half-closes and checks the echo and what the backend recorded.</summary>
    private async Task AssertRoutedAsync(byte[] bytes, TestBackend expected, Func<RawClient, Task>? send = null, string server = "tls")
    {
        using var client = await RawClient.ConnectAsync(router.Tpt.EndPoint(server));
        if (send is null)
        {
            await client.SendAsync(bytes);
        }
        else
        {
            await send(client);
        }

        Assert.Equal(expected.Tag, await client.ReadBannerAsync());
        client.ShutdownSend();
        var (echoed, clean) = await client.ReadToEndAsync();
        Assert.True(clean, "the relay should end with a FIN, not a reset");
        Assert.Equal(TestBackend.Sha256(bytes), TestBackend.Sha256(echoed));

        // The backend must have seen a byte-exact copy of everything the client sent, then EOF.
        var seen = expected.NextFinished();
        Assert.True(seen.SawEof);
        Assert.Equal(TestBackend.Sha256(bytes), TestBackend.Sha256(seen.Received));
    }

    [Theory]
    [InlineData("a.example.test", "A")]
    [InlineData("A.EXAMPLE.TEST", "A")]
    [InlineData("A.Example.Test", "A")]
    [InlineData("a.example.test.", "A")]
    [InlineData("x.wild.example.test", "WILD")]
    [InlineData("y.x.wild.example.test", "WILD")]
    [InlineData("z.deep.wild.example.test", "DEEP")]
    [InlineData("wild.example.test", "DEFAULT")]
    [InlineData("other.example.test", "DEFAULT")]
    [InlineData("xa.example.test", "DEFAULT")]
    [InlineData("a.example.test.evil", "DEFAULT")]
    public async Task Routes_real_openssl_hellos_by_normalised_name(string serverName, string expectedTag)
    {
        var hello = await OpenSsl.CaptureClientHelloAsync(serverName);
        var expected = expectedTag switch { "A" => router.A, "WILD" => router.Wild, "DEEP" => router.Deep, _ => router.Default };
        await AssertRoutedAsync(hello, expected);
    }

    [Fact]
    public async Task A_hello_without_sni_goes_to_default()
    {
        var hello = await OpenSsl.CaptureClientHelloAsync(null);
        await AssertRoutedAsync(hello, router.Default);
    }

    [Fact]
    public async Task A_hello_written_one_byte_per_segment_routes_like_one_write()
    {
        var hello = await OpenSsl.CaptureClientHelloAsync("a.example.test");
        var alone = 0;
        await AssertRoutedAsync(hello, router.A, async c => alone = await c.SendChunkedAsync(hello, 1), server: "dribble");
        Assert.Equal(hello.Length - 1, alone);
    }

    [Fact]
    public async Task A_hello_split_into_two_records_inside_the_host_name_routes_to_the_name()
    {
        var single = await OpenSsl.CaptureClientHelloAsync("a.example.test");
        var cut = HelloSurgery.HostNameOffset(single, "a.example.test") + 3;
        var split = HelloSurgery.SplitAt(single, cut);
        await AssertRoutedAsync(split, router.A);
    }

    [Fact]
    public async Task A_hello_split_into_one_byte_records_sent_in_many_segments_routes_to_the_name()
    {
        var single = await OpenSsl.CaptureClientHelloAsync("x.wild.example.test");
        var split = HelloSurgery.SplitEvery(single, 1);
        Assert.True(split.Length > single.Length * 5);
        var alone = 0;
        await AssertRoutedAsync(split, router.Wild, async c => alone = await c.SendChunkedAsync(split, 700));
        Assert.Equal((split.Length - 1) / 700, alone);
    }

    [Fact]
    public async Task A_large_post_quantum_sized_hello_in_several_segments_routes_to_the_name()
    {
        // An X25519MLKEM768 key share makes real hellos ~1.8 KB; an extra 1300-byte extension gives the same size.
        var single = await OpenSsl.CaptureClientHelloAsync("a.example.test");
        var large = HelloSurgery.Enlarge(single, 1300);
        Assert.InRange(large.Length, 1500, 2200);
        var alone = 0;
        await AssertRoutedAsync(large, router.A, async c => alone = await c.SendChunkedAsync(large, 536));
        Assert.Equal((large.Length - 1) / 536, alone);
    }

    [Fact]
    public async Task Early_data_after_the_hello_reaches_the_backend_in_order()
    {
        var hello = await OpenSsl.CaptureClientHelloAsync("a.example.test");
        byte[] withData = [.. hello, .. Encoding.ASCII.GetBytes("early application bytes"), .. new byte[100_000]];
        await AssertRoutedAsync(withData, router.A);
    }

    [Fact]
    public async Task Garbage_goes_to_default_unchanged()
    {
        var garbage = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        await AssertRoutedAsync(garbage, router.Default);
    }

    [Fact]
    public async Task A_hello_over_16_KiB_is_closed_without_reaching_any_backend()
    {
        var single = await OpenSsl.CaptureClientHelloAsync("a.example.test");
        var huge = HelloSurgery.Enlarge(single, 17_000);
        var before = router.A.Accepted + router.Default.Accepted;
        using var client = await RawClient.ConnectAsync(Tls);
        await client.SendAsync(huge);
        var (data, _) = await client.ReadToEndAsync();
        Assert.Empty(data);
        Assert.Equal(before, router.A.Accepted + router.Default.Accepted);
    }

    [Fact]
    public async Task A_silent_client_goes_to_default_after_the_hello_timeout_so_server_first_protocols_work()
    {
        using var client = await RawClient.ConnectAsync(Tls);
        Assert.Equal("DEFAULT", await client.ReadBannerAsync());
        var ping = Encoding.ASCII.GetBytes("EHLO me\r\n");
        await client.SendAsync(ping);
        Assert.Equal(ping, await client.ReadExactlyAsync(ping.Length));
        client.ShutdownSend();
        await client.ReadToEndAsync();
        Assert.Equal(ping, router.Default.NextFinished().Received);
    }

    [Fact]
    public async Task A_partial_hello_that_stalls_is_closed_at_the_timeout()
    {
        var hello = await OpenSsl.CaptureClientHelloAsync("a.example.test");
        var before = router.A.Accepted + router.Default.Accepted;
        using var client = await RawClient.ConnectAsync(Tls);
        await client.SendAsync(hello.AsMemory(0, hello.Length / 2));
        var (data, _) = await client.ReadToEndAsync();
        Assert.Empty(data);
        Assert.Equal(before, router.A.Accepted + router.Default.Accepted);
    }

    [Fact]
    public async Task Half_close_after_the_hello_still_gets_the_whole_answer()
    {
        var hello = await OpenSsl.CaptureClientHelloAsync("a.example.test");
        using var client = await RawClient.ConnectAsync(Tls);
        await client.SendAsync(hello);
        client.ShutdownSend();
        var (data, clean) = await client.ReadToEndAsync();
        Assert.True(clean);
        byte[] expected = [.. Encoding.ASCII.GetBytes("BKND:A\r\n"), .. hello];
        Assert.Equal(TestBackend.Sha256(expected), TestBackend.Sha256(data));
        router.A.NextFinished();
    }

    [Fact]
    public async Task Ban_closes_at_once_and_sends_nothing()
    {
        using var client = await RawClient.ConnectAsync(router.Tpt.EndPoint("ban"));
        await client.SendAsync(Encoding.ASCII.GetBytes("hello"));
        var (data, _) = await client.ReadToEndAsync();
        Assert.Empty(data);

        var hello = await OpenSsl.CaptureClientHelloAsync("ban.example.test");
        using var tlsClient = await RawClient.ConnectAsync(Tls);
        await tlsClient.SendAsync(hello);
        (data, _) = await tlsClient.ReadToEndAsync();
        Assert.Empty(data);
    }

    [Fact]
    public async Task Echo_returns_every_byte_and_half_closes()
    {
        var payload = new byte[300_000];
        Random.Shared.NextBytes(payload);
        using var client = await RawClient.ConnectAsync(router.Tpt.EndPoint("echo"));
        var reading = client.ReadToEndAsync();
        await client.SendAsync(payload);
        client.ShutdownSend();
        var (data, clean) = await reading;
        Assert.True(clean);
        Assert.Equal(TestBackend.Sha256(payload), TestBackend.Sha256(data));
    }

    [Fact]
    public async Task Echo_by_sni_returns_the_hello_itself()
    {
        var hello = await OpenSsl.CaptureClientHelloAsync("echo.example.test");
        using var client = await RawClient.ConnectAsync(Tls);
        await client.SendAsync(hello);
        client.ShutdownSend();
        var (data, _) = await client.ReadToEndAsync();
        Assert.Equal(hello, data);
    }

    [Fact]
    public async Task Maxclients_rejects_over_the_limit_across_listen_addresses_while_health_answers()
    {
        var hello = await OpenSsl.CaptureClientHelloAsync("anything.test");
        using var first = await RawClient.ConnectAsync(router.Tpt.EndPoint("limited", 0));
        await first.SendAsync(hello);
        Assert.Equal("A", await first.ReadBannerAsync());
        using var second = await RawClient.ConnectAsync(router.Tpt.EndPoint("limited", 1));
        await second.SendAsync(hello);
        Assert.Equal("A", await second.ReadBannerAsync());

        using var third = await RawClient.ConnectAsync(router.Tpt.EndPoint("limited", 0));
        try
        {
            await third.SendAsync(hello);
        }
        catch (SocketException)
        {
            // The router may already have closed it.
        }

        var (data, _) = await third.ReadToEndAsync();
        Assert.Empty(data);

        var health = await HttpProbe.GetAsync(router.Tpt.EndPoint("health"), "/health");
        Assert.Equal(200, health.Status);
        var metrics = await HttpProbe.GetAsync(router.Tpt.EndPoint("health"), "/metrics");
        Assert.Matches(@"tpt_connections_rejected_total\{name=""limited""\} [1-9]", metrics.Body);
        Assert.Contains("tpt_maxclients{name=\"limited\",listen=\"[::1]:", metrics.Body, StringComparison.Ordinal);

        foreach (var c in new[] { first, second })
        {
            c.ShutdownSend();
            await c.ReadToEndAsync();
        }

        router.A.NextFinished();
        router.A.NextFinished();
    }
}
