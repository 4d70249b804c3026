using System.Net;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.TlsData;

namespace TlsProxyTunnel.IntegrationTests.Pool;

/// <summary>
/// <c>upstream.NAME.pool</c> in the real tpt binary against real TLS servers: HAProxy (many connections, handshakes
/// counted on its stats socket) and <c>openssl s_server</c> (one connection at a time, each handshake printed, TLS
/// 1.3 session tickets sent right after it).
/// </summary>
public sealed class PoolTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task Warm_up_makes_size_handshakes_before_any_client_and_a_take_is_refilled_at_once()
    {
        await using var haproxy = new HaproxyTlsServer(_pki.Cert("server"), _pki.Key("server"));
        await haproxy.StartAsync();
        using var config = new TempConfig(Config(haproxy.Port, "size: 3"));
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 2);
        await ReadyAsync(tpt, 3);
        Assert.Equal(3, await haproxy.HandshakesAsync());

        var answer = await HttpProbe.GetAsync(tpt.EndPoint("s"), "/").WaitAsync(Bound);
        Assert.Equal("haproxy over TLSv1.3\n", answer.Body);
        var line = await AccessLineAsync(tpt);
        Assert.Contains(" pool=hit", line, StringComparison.Ordinal);
        Assert.Contains("upstream_tls=TLSv1.3", line, StringComparison.Ordinal);

        // HAProxy announces no handshake: its counter is polled until the refill shows.
        Assert.True(await Eventually.HoldsAsync(async () => await haproxy.HandshakesAsync() == 4, Bound, TimeSpan.FromMilliseconds(50)));
        var metrics = (await HttpProbe.GetAsync(tpt.EndPoint("probes"), "/metrics")).Body;
        Assert.Contains("tpt_pool_size{upstream=\"hub\"} 3", metrics, StringComparison.Ordinal);
        Assert.Contains("tpt_pool_hits_total{upstream=\"hub\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("tpt_pool_misses_total{upstream=\"hub\"} 0", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Killing_the_server_side_of_idle_connections_hands_none_of_them_out()
    {
        await using var haproxy = new HaproxyTlsServer(_pki.Cert("server"), _pki.Key("server"));
        await haproxy.StartAsync();
        using var config = new TempConfig(Config(haproxy.Port, "size: 3\n      backoff: 200ms\n      wait_timeout: 20s"));
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 2);
        await ReadyAsync(tpt, 3);

        // Every idle connection is now closed at the server; clients come at once, while no server is up.
        await haproxy.KillAsync();
        var clients = Enumerable.Range(0, 3).Select(_ => HttpProbe.GetAsync(tpt.EndPoint("s"), "/")).ToArray();
        await tpt.WaitForLineAsync(l => l.Contains("Pool of upstream hub: a connection attempt failed", StringComparison.Ordinal), Bound);

        // The pool sees its idle connections close and redials on its own: that failed line says nothing of the
        // clients. Three curl processes started are not yet three clients waiting; one that reaches tpt only after
        // the server is back and the pool refilled is a hit, not a wait.
        Assert.True(
            await Eventually.HoldsAsync(async () => (await MetricsAsync(tpt)).Contains("tpt_pool_waiters{upstream=\"hub\"} 3\n", StringComparison.Ordinal), Bound, TimeSpan.FromMilliseconds(50)),
            await MetricsAsync(tpt));
        await haproxy.StartAsync();

        foreach (var client in clients)
        {
            Assert.Equal("haproxy over TLSv1.3\n", (await client.WaitAsync(Bound)).Body);
        }

        for (var i = 0; i < 3; i++)
        {
            var line = await tpt.WaitForLineAsync(l => l.Contains(" server=s ", StringComparison.Ordinal) && l.Contains(" outcome=", StringComparison.Ordinal), Bound, skipSeen: i);
            Assert.Contains(" outcome=completed ", line, StringComparison.Ordinal);
            Assert.Contains(" pool=wait", line, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Tls13_session_tickets_on_an_idle_pooled_connection_do_not_make_it_look_broken()
    {
        // s_server sends two NewSessionTickets right after each TLS 1.3 handshake, before it prints "CIPHER is".
        using var server = await OpenSslPeer.ServerAsync("-cert", _pki.Cert("server"), "-key", _pki.Key("server"), "-num_tickets", "2");
        using var config = new TempConfig(Config(server.Port, "size: 1\n      wait_timeout: 5s"));
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 2);
        await ReadyAsync(tpt, 1);
        await server.WaitForLineAsync(l => l.StartsWith("CIPHER is TLS_", StringComparison.Ordinal)).WaitAsync(Bound);

        using var client = await RawClient.ConnectAsync(tpt.EndPoint("s"));
        await client.SendAsync(Encoding.ASCII.GetBytes("ping\n"));
        await server.WaitForLineAsync(l => l == "ping").WaitAsync(Bound);
        await server.SendLineAsync("pong");
        Assert.Equal("pong\n", Encoding.ASCII.GetString(await client.ReadExactlyAsync(5)));
        Assert.Equal(1, HandshakesBefore(server.Output, "ping"));
        client.ShutdownSend();
        var line = await AccessLineAsync(tpt);
        Assert.Contains(" pool=hit", line, StringComparison.Ordinal);
        Assert.Contains(" upstream_tls=TLSv1.3", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reload_that_keeps_the_upstream_keeps_its_pool_without_a_handshake_and_one_that_changes_it_replaces_the_pool()
    {
        using var server = await OpenSslPeer.ServerAsync("-cert", _pki.Cert("server"), "-key", _pki.Key("server"));
        using var config = new TempConfig(Config(server.Port, "size: 1\n      ttl: 60s"));
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 2);
        await ReadyAsync(tpt, 1);

        // Unrelated change: a new server. The pool and its one connection (s_server's only one) stay.
        File.WriteAllText(config.Path, Config(server.Port, "size: 1\n      ttl: 60s", extraServer: "  other:\n    listen: [\"127.0.0.1:0\"]\n    default: echo\n"));
        tpt.Signal(TptProcess.SIGHUP);
        await tpt.WaitForLineAsync(l => l.Contains("Reloaded: generation 2", StringComparison.Ordinal), Bound);
        await ExchangeAsync(tpt, server, "kept");
        Assert.Equal(1, HandshakesBefore(server.Output, "kept"));
        Assert.DoesNotContain("Pool of upstream hub: closed", tpt.AllOutput, StringComparison.Ordinal);

        // The refill was made when "kept" took the first connection; s_server reaches it once that client is gone.
        await server.WaitForLineAsync(l => CountHandshakes(server.Output) == 2).WaitAsync(Bound);

        // Changed pool settings: the old pool is closed (s_server sees its connection go) and a new one warms up.
        File.WriteAllText(config.Path, Config(server.Port, "size: 1\n      ttl: 61s"));
        tpt.Signal(TptProcess.SIGHUP);
        await tpt.WaitForLineAsync(l => l.Contains("Reloaded: generation 3", StringComparison.Ordinal), Bound);
        await tpt.WaitForLineAsync(l => l.Contains("Pool of upstream hub: closed", StringComparison.Ordinal), Bound);
        await server.WaitForLineAsync(l => CountHandshakes(server.Output) == 3).WaitAsync(Bound);
        await ExchangeAsync(tpt, server, "replaced");
        Assert.Equal(3, HandshakesBefore(server.Output, "replaced"));
    }

    [Fact]
    public async Task A_client_gets_no_connection_after_wait_timeout_and_is_closed_with_its_own_outcome()
    {
        using var nothing = new RefusingPort();
        using var config = new TempConfig(Config(nothing.Port, "size: 2\n      backoff: 100ms\n      wait_timeout: 1s"));
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 2);

        using var client = await RawClient.ConnectAsync(tpt.EndPoint("s"));
        await client.SendAsync(Encoding.ASCII.GetBytes("anyone?"));
        var (data, _) = await client.ReadToEndAsync(Bound);
        Assert.Empty(data);
        var line = await AccessLineAsync(tpt);
        Assert.Contains(" outcome=pool_wait_timeout ", line, StringComparison.Ordinal);
        Assert.Contains(" pool=none", line, StringComparison.Ordinal);
        await tpt.WaitForLineAsync(l => l.Contains("no pooled connection to upstream", StringComparison.Ordinal), Bound);

        var metrics = (await HttpProbe.GetAsync(tpt.EndPoint("probes"), "/metrics")).Body;
        Assert.Contains("tpt_pool_wait_timeouts_total{upstream=\"hub\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("tpt_pool_waits_total{upstream=\"hub\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("tpt_connection_outcomes_total{name=\"s\",outcome=\"pool_wait_timeout\"} 1", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("tpt_pool_handshake_failures_total{upstream=\"hub\"} 0", metrics, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("keep")]
    [InlineData("discard")]
    public async Task A_banner_an_idle_plain_server_sent_is_handed_to_the_client_with_keep_and_dropped_with_discard(string mode)
    {
        // TestBackend greets each connection with "BKND:A\r\n", then echoes: a server-first protocol.
        await using var backend = new TestBackend("A");
        using var config = new TempConfig($"""
            version: 2
            servers:
              s:
                listen: ["127.0.0.1:0"]
                default: hub
            upstream:
              hub:
                address: "tcp://127.0.0.1:{backend.Port}"
                pool:
                  size: 1
                  server_first: {mode}
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1, new Dictionary<string, string?> { ["TPT_LOG"] = "debug" });
        await tpt.WaitForLineAsync(l => l.Contains($"(server_first: {mode})", StringComparison.Ordinal), Bound);

        using var client = await RawClient.ConnectAsync(tpt.EndPoint("s"));
        if (mode == "keep")
        {
            // Given before the client says anything, as the server would have.
            Assert.Equal("BKND:A\r\n", Encoding.ASCII.GetString(await client.ReadExactlyAsync(8)));
        }

        await client.SendAsync(Encoding.ASCII.GetBytes("ping"));
        client.ShutdownSend();
        var (data, clean) = await client.ReadToEndAsync(Bound);
        Assert.Equal("ping", Encoding.ASCII.GetString(data));
        Assert.True(clean);
        var line = await tpt.WaitForLineAsync(l => l.Contains(" server=s ", StringComparison.Ordinal) && l.Contains(" outcome=", StringComparison.Ordinal), Bound);
        Assert.Contains(" outcome=completed ", line, StringComparison.Ordinal);
        Assert.Contains(" upstream_tls=- pool=hit", line, StringComparison.Ordinal);
    }

    private string Config(int port, string pool, string extraServer = "") => $"""
        version: 2
        servers:
          s:
            listen: ["127.0.0.1:0"]
            default: hub
          probes:
            listen: ["127.0.0.1:0"]
            default: health
        {extraServer}
        upstream:
          hub:
            address: "tcp://localhost:{port}"
            # openssl s_server serves one connection at a time: a refill made while a client still holds it waits
            # in its accept queue, and must not give up (4 s by default) on a loaded machine (seen in CI).
            connect_timeout: 30s
            tls:
              ca: {_pki.Cert("ca")}
            pool:
              {pool}
        """;

    private static async Task<string> MetricsAsync(TptProcess tpt) => (await HttpProbe.GetAsync(tpt.EndPoint("probes"), "/metrics")).Body;

    private static Task<string> ReadyAsync(TptProcess tpt, int size) =>
        tpt.WaitForLineAsync(l => l.Contains($"Pool of upstream hub: {size} of {size} connections ready", StringComparison.Ordinal), Bound);

    private static Task<string> AccessLineAsync(TptProcess tpt) =>
        tpt.WaitForLineAsync(l => l.Contains(" server=s ", StringComparison.Ordinal) && l.Contains(" outcome=", StringComparison.Ordinal), Bound);

    /// <summary>A client through tpt sends <paramref name="word"/>, s_server answers it back; then the client leaves.</summary>
    private static async Task ExchangeAsync(TptProcess tpt, OpenSslPeer server, string word)
    {
        using var client = await RawClient.ConnectAsync(tpt.EndPoint("s"));
        await client.SendAsync(Encoding.ASCII.GetBytes(word + "\n"));
        await server.WaitForLineAsync(l => l == word).WaitAsync(Bound);
        await server.SendLineAsync(word);
        Assert.Equal(word + "\n", Encoding.ASCII.GetString(await client.ReadExactlyAsync(word.Length + 1)));
    }

    private static int CountHandshakes(string output) =>
        output.Split('\n').Count(l => l.StartsWith("CIPHER is ", StringComparison.Ordinal));

    /// <summary>Handshakes s_server had completed when <paramref name="line"/> arrived.</summary>
    private static int HandshakesBefore(string output, string line)
    {
        var lines = output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var at = lines.IndexOf(line);
        Assert.True(at >= 0, $"s_server never printed '{line}':\n{output}");
        return lines.Take(at).Count(l => l.StartsWith("CIPHER is ", StringComparison.Ordinal));
    }
}
