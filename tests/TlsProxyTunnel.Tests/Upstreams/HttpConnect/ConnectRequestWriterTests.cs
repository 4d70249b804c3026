using System.Text;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Upstreams.HttpConnect;

namespace TlsProxyTunnel.Tests.Upstreams.HttpConnect;

public sealed class ConnectRequestWriterTests
{
    [Fact]
    public void Without_headers_the_request_is_the_request_line_host_and_blank_line()
    {
        var bytes = ConnectRequestWriter.Build("example.com:443", []);

        Assert.Equal("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", Encoding.ASCII.GetString(bytes));
    }

    [Fact]
    public void Headers_follow_host_in_config_order()
    {
        ProxyHeader[] headers =
        [
            new("Proxy-Authorization", "Basic dTpw", Sensitive: true),
            new("X-B", "2", Sensitive: false),
            new("X-A", "1", Sensitive: false),
        ];

        var text = Encoding.ASCII.GetString(ConnectRequestWriter.Build("[2001:db8::1]:8443", headers));

        Assert.Equal(
            "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\nProxy-Authorization: Basic dTpw\r\nX-B: 2\r\nX-A: 1\r\n\r\n",
            text);
    }

    [Theory]
    [InlineData("Host")]
    [InlineData("host")]
    [InlineData("HOST")]
    public void A_configured_host_header_is_the_only_host_header(string name)
    {
        ProxyHeader[] headers =
        [
            new("X-A", "1", Sensitive: false),
            new(name, "www.test1.com:4433", Sensitive: false),
        ];

        var text = Encoding.ASCII.GetString(ConnectRequestWriter.Build("inner.test:443", headers));

        Assert.Equal($"CONNECT inner.test:443 HTTP/1.1\r\nX-A: 1\r\n{name}: www.test1.com:4433\r\n\r\n", text);
    }

    [Theory]
    [InlineData("evil.com:443\r\nX-Injected: 1")]
    [InlineData("evil.com:443\n")]
    [InlineData("evil\0.com:443")]
    [InlineData("evil.com:443 HTTP/1.0")]
    [InlineData("")]
    public void Authority_with_control_characters_or_spaces_is_rejected(string authority)
    {
        Assert.Throws<ArgumentException>(() => ConnectRequestWriter.Build(authority, []));
    }

    [Theory]
    [InlineData("X-Test", "s3cret\r\nX-Injected: 1")]
    [InlineData("X-Test", "a\nb")]
    [InlineData("X-Test", "a\0b")]
    [InlineData("X-Te\rst", "s3cret")]
    [InlineData("X-Test:", "s3cret")]
    [InlineData("", "s3cret")]
    public void Header_with_line_breaks_is_rejected(string name, string value)
    {
        var ex = Assert.Throws<ArgumentException>(() => ConnectRequestWriter.Build("h:1", [new ProxyHeader(name, value, Sensitive: true)]));

        // The value may be a credential: it must not leak through the exception message.
        Assert.DoesNotContain(value, ex.Message, StringComparison.Ordinal);
    }
}
