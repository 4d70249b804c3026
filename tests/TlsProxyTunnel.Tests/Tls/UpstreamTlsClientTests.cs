using System.Security.Authentication;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Tests.Tls;

public sealed class UpstreamTlsClientTests
{
    private static UpstreamConfig Upstream(UpstreamTlsSettings tls, string host = "hub.test") =>
        new() { Name = "hub", Kind = UpstreamKind.Tcp, Host = host, Port = 443, Display = "tcp://hub.test:443", Tls = tls };

    [Theory]
    [InlineData(null, false, null, null, "hub.test")] // the address's host
    [InlineData("named.test", false, null, null, "named.test")]
    [InlineData(null, false, null, "target.test:8443", "target.test")] // through a via: the CONNECT target's host
    [InlineData(null, false, null, "[2001:db8::1]:443", "2001:db8::1")]
    [InlineData("named.test", false, null, "target.test:8443", "named.test")] // written out wins
    [InlineData(null, true, "client.test", "target.test:443", "client.test")] // from_client
    [InlineData(null, true, null, null, "hub.test")] // from_client, but the client sent no name
    public void The_server_name_follows_the_settings_the_via_and_the_client(string? serverName, bool fromClient, string? clientSni, string? authority, string expected)
    {
        var client = new UpstreamTlsClient(Upstream(new UpstreamTlsSettings { ServerName = serverName, ServerNameFromClient = fromClient }));
        Assert.Equal(expected, client.TargetHost(clientSni, authority));
    }

    [Theory]
    [InlineData("SSL Handshake failed: error:0A00042E:SSL routines::tlsv1 alert protocol version", false, "Protocol")]
    [InlineData("SSL Handshake failed: error:0A000410:SSL routines::sslv3 alert handshake failure", false, "Protocol")]
    [InlineData("SSL Handshake failed: error:0A000410:SSL routines::sslv3 alert handshake failure", true, "Error")]
    [InlineData("SSL Handshake failed: error:0A00010B:SSL routines::wrong version number", true, "Protocol")]
    [InlineData("Received an unexpected EOF or 0 bytes from the transport stream.", false, "Error")]
    public void Handshake_failures_tpt_did_not_decide_are_sorted_by_what_openssl_says(string inner, bool certificateSeen, string expected)
    {
        var error = new AuthenticationException("Authentication failed, see inner exception.", new InvalidOperationException(inner));
        Assert.Equal(Enum.Parse<TlsHandshakeResult>(expected), TlsHandshakeResults.Classify(error, certificateSeen).Result);
    }
}
