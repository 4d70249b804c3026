using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.IntegrationTests.TlsData;

/// <summary>
/// Originated TLS (<c>upstream.NAME.tls</c>) against a real <c>openssl s_server -Verify 1</c> that requires a client
/// certificate, with a certificate for <c>localhost, 127.0.0.1</c>: what is sent, what is checked, and that every
/// failure closes only its connection with its own outcome, metric and reason.
/// </summary>
public sealed class UpstreamTlsTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public async Task Default_settings_send_localhost_as_sni_check_chain_and_name_and_relay_both_ways()
    {
        // The trusted certificate is served only to a client that sends SNI "localhost" (cert2 is s_server's
        // certificate for the name given by -servername); any other name gets a fatal alert, no name the rogue one.
        using var server = await OpenSslPeer.ServerAsync(
            "-cert", _pki.Cert("rogue"), "-key", _pki.Key("rogue"),
            "-servername", "localhost", "-servername_fatal", "-cert2", _pki.Cert("server"), "-key2", _pki.Key("server"),
            "-Verify", "1", "-CAfile", _pki.Cert("clientca"));
        await using var tpt = Proxy(new UpstreamTlsSettings { ExtraRoots = [_pki.LoadPublic("ca")], ClientCertificate = _pki.Load("client") }, "localhost", server.Port);

        using var client = await ConnectAsync(tpt);
        await client.SendAsync(Encoding.ASCII.GetBytes("ping from the client\n"));
        await server.WaitForLineAsync(l => l.Contains("ping from the client", StringComparison.Ordinal)).WaitAsync(Bound);
        await server.SendLineAsync("pong from the server");
        Assert.Equal("pong from the server\n", await ReadAsync(client, "pong from the server\n".Length));

        client.Shutdown(SocketShutdown.Send);
        var line = await tpt.AccessLineAsync("s").WaitAsync(Bound);
        Assert.Contains("upstream_tls=TLSv1.3", line, StringComparison.Ordinal);
        Assert.Contains("outcome=completed", line, StringComparison.Ordinal);
        Assert.Equal(1, tpt.Metrics.TlsHandshakes.Count(TlsSide.Upstream, TlsHandshakeResult.Ok));
    }

    [Fact]
    public async Task Through_a_via_tls_runs_inside_the_connect_tunnel_with_the_targets_host_as_server_name()
    {
        // Only SNI "localhost" (the CONNECT target's host) gets the trusted certificate; the upstream's address is
        // tinyproxy's 127.0.0.1, which must not be the name sent.
        using var server = await OpenSslPeer.ServerAsync(
            "-cert", _pki.Cert("rogue"), "-key", _pki.Key("rogue"),
            "-servername", "localhost", "-servername_fatal", "-cert2", _pki.Cert("server"), "-key2", _pki.Key("server"));
        await using var proxy = await Fixtures.TinyproxyFixture.StartAsync();
        var target = $"localhost:{server.Port}";
        var via = new ViaConfig { Target = target, TargetDisplay = target, ConnectTimeout = TimeSpan.FromSeconds(5) };
        await using var tpt = new InProcessTpt(
            [InProcessTpt.Server("s", "proxy") with { Via = via }],
            new Dictionary<string, UpstreamConfig>
            {
                ["proxy"] = InProcessTpt.Upstream("proxy", "127.0.0.1", proxy.EndPoint.Port, new UpstreamTlsSettings { ExtraRoots = [_pki.LoadPublic("ca")], CaOnly = true }),
            });

        using var client = await ConnectAsync(tpt);
        await client.SendAsync(Encoding.ASCII.GetBytes("through the tunnel\n"));
        await server.WaitForLineAsync(l => l.Contains("through the tunnel", StringComparison.Ordinal)).WaitAsync(Bound);
        await server.SendLineAsync("back through the tunnel");
        Assert.Equal("back through the tunnel\n", await ReadAsync(client, "back through the tunnel\n".Length));
        client.Shutdown(SocketShutdown.Send);
        var line = await tpt.AccessLineAsync("s").WaitAsync(Bound);
        Assert.Contains($"CONNECT {target}", line, StringComparison.Ordinal);
        Assert.Contains("upstream_tls=TLSv1.3", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_ip_literal_address_is_checked_against_the_certificates_ip_addresses()
    {
        using var server = await OpenSslPeer.ServerAsync("-cert", _pki.Cert("server"), "-key", _pki.Key("server"), "-Verify", "1", "-CAfile", _pki.Cert("clientca"));
        await using var tpt = Proxy(new UpstreamTlsSettings { ExtraRoots = [_pki.LoadPublic("ca")], ClientCertificate = _pki.Load("client") }, "127.0.0.1", server.Port);

        using var client = await ConnectAsync(tpt);
        await client.SendAsync(Encoding.ASCII.GetBytes("by address\n"));
        await server.WaitForLineAsync(l => l.Contains("by address", StringComparison.Ordinal)).WaitAsync(Bound);
        Assert.Equal(1, tpt.Metrics.TlsHandshakes.Count(TlsSide.Upstream, TlsHandshakeResult.Ok));
    }

    [Fact]
    public async Task A_wrong_server_name_is_refused_with_verify_full_and_accepted_with_verify_chain()
    {
        using var server = await OpenSslPeer.ServerAsync("-cert", _pki.Cert("server"), "-key", _pki.Key("server"), "-Verify", "1", "-CAfile", _pki.Cert("clientca"));
        var settings = new UpstreamTlsSettings { ServerName = "wrong.test", ExtraRoots = [_pki.LoadPublic("ca")], ClientCertificate = _pki.Load("client") };
        await using (var full = Proxy(settings, "localhost", server.Port))
        {
            await ConnectThenAssertClosedAsync(full);
            var line = await full.AccessLineAsync("s").WaitAsync(Bound);
            Assert.Contains("outcome=tls_upstream_failed", line, StringComparison.Ordinal);
            var reason = await full.Lines.WaitForAsync(l => l.Contains("TLS handshake with upstream", StringComparison.Ordinal)).WaitAsync(Bound);
            Assert.Contains("name_mismatch", reason, StringComparison.Ordinal);
            Assert.Contains("does not name 'wrong.test'", reason, StringComparison.Ordinal);
            Assert.Equal(1, full.Metrics.TlsHandshakes.Count(TlsSide.Upstream, TlsHandshakeResult.NameMismatch));
            Assert.Contains("tpt_tls_handshakes_total{side=\"upstream\",result=\"name_mismatch\"} 1", full.Metrics.Render(), StringComparison.Ordinal);
        }

        await using var chain = Proxy(settings with { Verify = TlsVerifyMode.Chain }, "localhost", server.Port);
        using var chainClient = await ConnectAsync(chain);
        await chainClient.SendAsync(Encoding.ASCII.GetBytes("chain only\n"));
        await server.WaitForLineAsync(l => l.Contains("chain only", StringComparison.Ordinal)).WaitAsync(Bound);
        Assert.Equal(1, chain.Metrics.TlsHandshakes.Count(TlsSide.Upstream, TlsHandshakeResult.Ok));
    }

    [Theory]
    [InlineData("none", false, "Untrusted")] // the system store alone does not know the test CA
    [InlineData("ca", false, "Ok")] // system store plus ca
    [InlineData("ca", true, "Ok")] // ca only
    [InlineData("rogueca", true, "Untrusted")] // ca only, and the wrong one
    [InlineData("rogueca", false, "Untrusted")] // an extra root that did not sign the chain adds nothing
    public async Task The_chain_is_checked_against_the_system_store_plus_ca_or_ca_alone(string ca, bool caOnly, string outcome)
    {
        var expected = Enum.Parse<TlsHandshakeResult>(outcome);
        using var server = await OpenSslPeer.ServerAsync("-cert", _pki.Cert("server"), "-key", _pki.Key("server"), "-Verify", "1", "-CAfile", _pki.Cert("clientca"));
        var settings = new UpstreamTlsSettings
        {
            ExtraRoots = ca == "none" ? [] : [_pki.LoadPublic(ca)],
            CaOnly = caOnly,
            ClientCertificate = _pki.Load("client"),
        };
        await using var tpt = Proxy(settings, "localhost", server.Port);

        if (expected == TlsHandshakeResult.Ok)
        {
            using var client = await ConnectAsync(tpt);
            await client.SendAsync(Encoding.ASCII.GetBytes("trusted\n"));
            await server.WaitForLineAsync(l => l.Contains("trusted", StringComparison.Ordinal)).WaitAsync(Bound);
        }
        else
        {
            await ConnectThenAssertClosedAsync(tpt);
            var reason = await tpt.Lines.WaitForAsync(l => l.Contains("TLS handshake with upstream", StringComparison.Ordinal)).WaitAsync(Bound);
            Assert.Contains("untrusted: certificate chain not trusted", reason, StringComparison.Ordinal);
            Assert.Contains("outcome=tls_upstream_failed", await tpt.AccessLineAsync("s").WaitAsync(Bound), StringComparison.Ordinal);
        }

        Assert.Equal(1, tpt.Metrics.TlsHandshakes.Count(TlsSide.Upstream, expected));
    }

    [Fact]
    public async Task Verify_none_accepts_a_certificate_nobody_trusts()
    {
        using var server = await OpenSslPeer.ServerAsync("-cert", _pki.Cert("rogue"), "-key", _pki.Key("rogue"), "-Verify", "1", "-CAfile", _pki.Cert("clientca"));
        await using var tpt = Proxy(new UpstreamTlsSettings { Verify = TlsVerifyMode.None, ServerName = "other.test", ClientCertificate = _pki.Load("client") }, "localhost", server.Port);

        using var client = await ConnectAsync(tpt);
        await client.SendAsync(Encoding.ASCII.GetBytes("anything goes\n"));
        await server.WaitForLineAsync(l => l.Contains("anything goes", StringComparison.Ordinal)).WaitAsync(Bound);
    }

    [Fact]
    public async Task Without_a_client_certificate_the_server_refuses_and_the_client_is_closed()
    {
        using var server = await OpenSslPeer.ServerAsync("-cert", _pki.Cert("server"), "-key", _pki.Key("server"), "-Verify", "1", "-CAfile", _pki.Cert("clientca"));
        await using var tpt = Proxy(new UpstreamTlsSettings { ExtraRoots = [_pki.LoadPublic("ca")] }, "localhost", server.Port);

        await ConnectThenAssertClosedAsync(tpt, "let me in\n");
        var line = await tpt.AccessLineAsync("s").WaitAsync(Bound);
        // TLS 1.3: the handshake completes on tpt's side; the server's refusal is the alert on the first read.
        Assert.True(line.Contains("outcome=tls_upstream_failed", StringComparison.Ordinal), line);
        var alert = await tpt.Lines.WaitForAsync(l => l.Contains("ended the TLS session with an alert", StringComparison.Ordinal)).WaitAsync(Bound);
        Assert.Contains("certificate required", alert, StringComparison.Ordinal);
        Assert.DoesNotContain("let me in", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_upstream_that_never_answers_the_handshake_times_out_within_connect_timeout()
    {
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        silent.Listen(8);
        var port = ((IPEndPoint)silent.LocalEndPoint!).Port;
        await using var tpt = Proxy(new UpstreamTlsSettings { ExtraRoots = [_pki.LoadPublic("ca")] }, "localhost", port, TimeSpan.FromSeconds(1));

        await ConnectThenAssertClosedAsync(tpt);
        var reason = await tpt.Lines.WaitForAsync(l => l.Contains("TLS handshake with upstream", StringComparison.Ordinal)).WaitAsync(Bound);
        Assert.Contains("timeout: no handshake within connect_timeout", reason, StringComparison.Ordinal);
        Assert.Contains("outcome=tls_upstream_failed", await tpt.AccessLineAsync("s").WaitAsync(Bound), StringComparison.Ordinal);
        Assert.Equal(1, tpt.Metrics.TlsHandshakes.Count(TlsSide.Upstream, TlsHandshakeResult.Timeout));
    }

    [Fact]
    public async Task No_shared_protocol_version_is_a_protocol_failure()
    {
        // TLS 1.1 only (allowed at security level 0): tpt offers 1.2 and 1.3.
        using var server = await OpenSslPeer.ServerAsync("-cert", _pki.Cert("server"), "-key", _pki.Key("server"), "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0");
        await using var tpt = Proxy(new UpstreamTlsSettings { ExtraRoots = [_pki.LoadPublic("ca")] }, "localhost", server.Port);

        await ConnectThenAssertClosedAsync(tpt);
        var reason = await tpt.Lines.WaitForAsync(l => l.Contains("TLS handshake with upstream", StringComparison.Ordinal)).WaitAsync(Bound);
        Assert.True(reason.Contains("failed: protocol:", StringComparison.Ordinal), reason);
        Assert.Equal(1, tpt.Metrics.TlsHandshakes.Count(TlsSide.Upstream, TlsHandshakeResult.Protocol));
    }

    [Fact]
    public async Task Alpn_is_offered_to_the_upstream()
    {
        using var server = await OpenSslPeer.ServerAsync("-cert", _pki.Cert("server"), "-key", _pki.Key("server"), "-alpn", "h2");
        await using var tpt = Proxy(
            new UpstreamTlsSettings { ExtraRoots = [_pki.LoadPublic("ca")], Alpn = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11] },
            "localhost",
            server.Port);

        using var client = await ConnectAsync(tpt);
        await client.SendAsync(Encoding.ASCII.GetBytes("negotiated\n"));
        await server.WaitForLineAsync(l => l.Contains("negotiated", StringComparison.Ordinal)).WaitAsync(Bound);
        Assert.Contains("ALPN protocols advertised by the client: h2, http/1.1", server.Output, StringComparison.Ordinal);
    }

    private static InProcessTpt Proxy(UpstreamTlsSettings tls, string host, int port, TimeSpan? connectTimeout = null) => new(
        [InProcessTpt.Server("s", "up")],
        new Dictionary<string, UpstreamConfig> { ["up"] = InProcessTpt.Upstream("up", host, port, tls, connectTimeout) });

    private static async Task<Socket> ConnectAsync(InProcessTpt tpt)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(tpt.EndPoint("s")).WaitAsync(Bound);
        return socket;
    }

    private static async Task<string> ReadAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        var read = 0;
        while (read < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read)).AsTask().WaitAsync(Bound);
            Assert.True(n > 0, $"closed after {read} bytes");
            read += n;
        }

        return Encoding.ASCII.GetString(buffer);
    }

    /// <summary>
    /// Connects (and sends <paramref name="send"/>) where tpt closes the client as soon as the upstream fails. That
    /// needs no byte of the client's, so tpt's reset may arrive before this process has seen its own connect or send
    /// complete (the runtime then reports the reset there): a reset at any step is the close asserted.
    /// </summary>
    private static async Task ConnectThenAssertClosedAsync(InProcessTpt tpt, string? send = null)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(tpt.EndPoint("s")).WaitAsync(Bound);
            if (send is not null)
            {
                await socket.SendAsync(Encoding.ASCII.GetBytes(send));
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown)
        {
            return;
        }

        await AssertClosedAsync(socket);
    }

    /// <summary>tpt closed the client: EOF or reset, with no byte of the upstream's.</summary>
    internal static async Task AssertClosedAsync(Socket socket)
    {
        var buffer = new byte[256];
        try
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(Bound);
            Assert.Equal(0, n);
        }
        catch (SocketException)
        {
            // A reset is a close too.
        }
    }
}
