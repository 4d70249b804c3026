using System.Net;
using System.Text;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.Reliability;
using TlsProxyTunnel.IntegrationTests.TlsData;

namespace TlsProxyTunnel.IntegrationTests.ProxyProtocol;

/// <summary>
/// PROXY protocol with real peers and the real tpt binary: HAProxy's send-proxy and send-proxy-v2 and curl's
/// --haproxy-protocol into <c>proxy_protocol: require</c>; tpt's v1 and v2 into HAProxy's accept-proxy, before TLS
/// and inside it (ptw's README layout); tpt to tpt through terminate_tls.
/// </summary>
public sealed class ProxyProtocolPeerTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    /// <summary>HAProxy answers with the addresses its accept-proxy frontend took from the header.</summary>
    private const string EchoAddresses = """http-request return status 200 content-type text/plain lf-string "src=%[src]:%[src_port] dst=%[dst]:%[dst_port]\n" """;

    private const string Defaults = """
        defaults
          timeout connect 5s
          timeout client 20s
          timeout server 20s

        """;

    private static async Task<(int LocalPort, string Answer)> HttpThroughAsync(IPEndPoint endPoint)
    {
        using var client = await RawClient.ConnectAsync(endPoint);
        await client.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.0\r\nHost: test\r\n\r\n"));
        var (data, _) = await client.ReadToEndAsync();
        return (((IPEndPoint)client.Socket.LocalEndPoint!).Port, Encoding.ASCII.GetString(data));
    }

    [Theory]
    [InlineData("send-proxy", "v1")]
    [InlineData("send-proxy-v2", "v2")]
    [InlineData("send-proxy", "v2")]
    [InlineData("send-proxy-v2", "v1")]
    public async Task HAProxy_send_proxy_into_require_gives_tpt_the_client_and_tpt_passes_both_addresses_on(string haproxySends, string tptSends)
    {
        // client -> HAProxy :front (tcp, send-proxy) -> tpt (require, sends tptSends) -> HAProxy :echo (accept-proxy).
        var front = FreePort.Tcp();
        var echo = FreePort.Tcp();
        using var config = new TempConfig($"""
            version: 2
            servers:
              pp:
                listen: ["127.0.0.1:0"]
                proxy_protocol: require
                default: hub
            upstream:
              hub:
                address: "tcp://127.0.0.1:{echo}"
                proxy_protocol: {tptSends}
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 1);
        var tptPort = tpt.EndPoint("pp").Port;
        await using var haproxy = await HaproxyProcess.StartAsync($"""
            {Defaults}
            frontend front
              mode tcp
              bind 127.0.0.1:{front}
              default_backend tpt
            backend tpt
              mode tcp
              server tpt 127.0.0.1:{tptPort} {haproxySends}
            frontend echo
              mode http
              bind 127.0.0.1:{echo} accept-proxy
              {EchoAddresses}
            """, front, echo);

        var (clientPort, answer) = await HttpThroughAsync(new IPEndPoint(IPAddress.Loopback, front)).WaitAsync(Bound);

        // The source is the client HAProxy saw, the destination the address it reached HAProxy on: both came from
        // HAProxy's header, through tpt, into tpt's own header.
        Assert.Contains($"src=127.0.0.1:{clientPort} dst=127.0.0.1:{front}\n", answer, StringComparison.Ordinal);
        var line = await tpt.WaitForLineAsync(l => l.Contains($"client=127.0.0.1:{clientPort} ", StringComparison.Ordinal) && l.Contains(" outcome=", StringComparison.Ordinal));
        Assert.Contains("server=pp ", line, StringComparison.Ordinal);
        Assert.Contains("outcome=completed", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Curl_haproxy_protocol_is_read_and_a_client_without_a_header_is_refused_as_proxy_header_invalid()
    {
        using var config = new TempConfig("""
            version: 2
            servers:
              pp:
                listen: ["127.0.0.1:0"]
                proxy_protocol: require
                default: health
              probes:
                listen: ["127.0.0.1:0"]
                default: health
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 2);

        var answer = await HttpProbe.GetAsync(tpt.EndPoint("pp"), "/health", "--haproxy-protocol").WaitAsync(Bound);
        Assert.Equal((200, "OK"), (answer.Status, answer.Body));
        await tpt.WaitForLineAsync(l => l.Contains("server=pp ", StringComparison.Ordinal) && l.Contains("outcome=completed", StringComparison.Ordinal));

        // Without the header, "GET" is not a PROXY signature: closed at once, logged and counted.
        var (exitCode, _, stderr) = await Peers.CurlAsync($"http://{tpt.EndPoint("pp")}/health").WaitAsync(Bound);
        Assert.True(exitCode != 0, stderr);
        await tpt.WaitForLineAsync(l => l.Contains("PROXY header from 127.0.0.1:", StringComparison.Ordinal) && l.Contains("not a PROXY header", StringComparison.Ordinal));
        await tpt.WaitForLineAsync(l => l.Contains("server=pp ", StringComparison.Ordinal) && l.Contains("outcome=proxy_header_invalid", StringComparison.Ordinal));
        var metrics = await HttpProbe.GetAsync(tpt.EndPoint("probes"), "/metrics").WaitAsync(Bound);
        Assert.Contains("tpt_connection_outcomes_total{name=\"pp\",outcome=\"proxy_header_invalid\"} 1", metrics.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tpt_sends_v1_and_v2_before_TLS_and_inside_it_and_HAProxy_accepts_them_as_in_ptw_s_README()
    {
        var inner = FreePort.Tcp();
        var tlsFront = FreePort.Tcp();
        var proxyThenTls = FreePort.Tcp();
        var plain = FreePort.Tcp();
        var pem = Path.Combine(_pki.Directory, "server.pem");
        await File.WriteAllTextAsync(pem, await File.ReadAllTextAsync(_pki.Cert("server")) + await File.ReadAllTextAsync(_pki.Key("server")));
        await using var haproxy = await HaproxyProcess.StartAsync($"""
            {Defaults}
            # ptw's README: TLS with client certificates, then the decrypted stream to an accept-proxy frontend.
            frontend tls
              mode tcp
              bind 127.0.0.1:{tlsFront} ssl crt {pem} ca-file {_pki.Cert("clientca")} verify required
              default_backend inner
            backend inner
              mode tcp
              server inner 127.0.0.1:{inner}
            frontend inner
              mode http
              bind 127.0.0.1:{inner} accept-proxy
              {EchoAddresses}
            # HAProxy's own order: the header in clear, then the TLS handshake.
            frontend proxythentls
              mode http
              bind 127.0.0.1:{proxyThenTls} accept-proxy ssl crt {pem}
              {EchoAddresses}
            frontend plain
              mode http
              bind 127.0.0.1:{plain} accept-proxy
              {EchoAddresses}
            """, tlsFront, inner, proxyThenTls, plain);

        using var config = new TempConfig($"""
            version: 2
            servers:
              inside2:
                listen: ["127.0.0.1:0"]
                default: inside2
              inside1:
                listen: ["127.0.0.1:0"]
                default: inside1
              before1:
                listen: ["127.0.0.1:0"]
                default: before1
              before2:
                listen: ["127.0.0.1:0"]
                default: before2
              plain1:
                listen: ["127.0.0.1:0"]
                default: plain1
              plain2:
                listen: ["127.0.0.1:0"]
                default: plain2
            upstream:
              inside2: &inside
                address: "tcp://localhost:{tlsFront}"
                proxy_protocol: v2
                tls:
                  ca: {_pki.Cert("ca")}
                  cert: {_pki.Cert("client")}
                  key: {_pki.Key("client")}
              inside1:
                <<: *inside
                proxy_protocol: v1
              before1: &before
                address: "tcp://localhost:{proxyThenTls}"
                proxy_protocol: v1
                proxy_protocol_placement: before_tls
                tls:
                  ca: {_pki.Cert("ca")}
              before2:
                <<: *before
                proxy_protocol: v2
              plain1:
                address: "tcp://127.0.0.1:{plain}"
                proxy_protocol: v1
              plain2:
                address: "tcp://127.0.0.1:{plain}"
                proxy_protocol: v2
            """);
        await using var tpt = await TptProcess.StartAsync(config.Path, expectedListeners: 6);
        foreach (var server in (string[])["inside2", "inside1", "before1", "before2", "plain1", "plain2"])
        {
            var endPoint = tpt.EndPoint(server);
            var (clientPort, answer) = await HttpThroughAsync(endPoint).WaitAsync(Bound);
            Assert.True(answer.Contains($"src=127.0.0.1:{clientPort} dst={endPoint}\n", StringComparison.Ordinal), $"{server}: {answer}");
        }
    }

    [Fact]
    public async Task Tpt_to_tpt_the_header_inside_terminated_TLS_and_before_a_routed_hello_names_the_first_client()
    {
        await using var backend = new TestBackend("echo", banner: false);
        using var backConfig = new TempConfig($"""
            version: 2
            servers:
              term:
                listen: ["127.0.0.1:0"]
                terminate_tls:
                  cert: {_pki.Cert("server")}
                  key: {_pki.Key("server")}
                proxy_protocol: require
                default: origin
              routed:
                listen: ["127.0.0.1:0"]
                tls: true
                proxy_protocol: require
                sni:
                  a.test: origin
                default: ban
            upstream:
              origin: "tcp://127.0.0.1:{backend.Port}"
            """);
        await using var back = await TptProcess.StartAsync(backConfig.Path, expectedListeners: 2);
        using var frontConfig = new TempConfig($"""
            version: 2
            servers:
              toterm:
                listen: ["127.0.0.1:0"]
                default: term
              torouted:
                listen: ["127.0.0.1:0"]
                default: routed
            upstream:
              term:
                address: "tcp://localhost:{back.EndPoint("term").Port}"
                proxy_protocol: v2
                tls:
                  ca: {_pki.Cert("ca")}
              routed:
                address: "tcp://127.0.0.1:{back.EndPoint("routed").Port}"
                proxy_protocol: v1
            """);
        await using var front = await TptProcess.StartAsync(frontConfig.Path, expectedListeners: 2);

        using (var client = await RawClient.ConnectAsync(front.EndPoint("toterm")))
        {
            var port = ((IPEndPoint)client.Socket.LocalEndPoint!).Port;
            await client.SendAsync("ping\n"u8.ToArray());
            Assert.Equal("ping\n", Encoding.ASCII.GetString(await client.ReadExactlyAsync(5)));
            client.ShutdownSend();
            await client.ReadToEndAsync();
            var line = await back.WaitForLineAsync(l => l.Contains("server=term ", StringComparison.Ordinal) && l.Contains(" outcome=", StringComparison.Ordinal));
            Assert.StartsWith($"client=127.0.0.1:{port} ", line[line.IndexOf("client=", StringComparison.Ordinal)..], StringComparison.Ordinal);
            Assert.Contains("outcome=completed", line, StringComparison.Ordinal);

            // The header went inside TLS and was consumed there: the backend got the payload alone.
            Assert.Equal("ping\n", Encoding.ASCII.GetString(backend.NextFinished().Received));
        }

        using (var client = await RawClient.ConnectAsync(front.EndPoint("torouted")))
        {
            var port = ((IPEndPoint)client.Socket.LocalEndPoint!).Port;
            var hello = CraftedHello.WithServerNames("a.test");
            await client.SendAsync(hello);
            Assert.Equal(hello, await client.ReadExactlyAsync(hello.Length));
            client.ShutdownSend();
            await client.ReadToEndAsync();
            var line = await back.WaitForLineAsync(l => l.Contains("server=routed ", StringComparison.Ordinal) && l.Contains(" outcome=", StringComparison.Ordinal));
            Assert.Contains($"client=127.0.0.1:{port} ", line, StringComparison.Ordinal);
            Assert.Contains("sni=a.test hello=sni route=a.test", line, StringComparison.Ordinal);
            Assert.Equal(hello, backend.NextFinished().Received);
        }
    }
}
