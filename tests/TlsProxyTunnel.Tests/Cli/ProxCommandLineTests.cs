using TlsProxyTunnel.Cli;
using TlsProxyTunnel.Tests.Configuration;

namespace TlsProxyTunnel.Tests.Cli;

/// <summary>
/// <c>tpt prox</c>: prox.py's options parsed as its optparse parses them, with its defaults and certificate naming, and
/// the configuration each becomes (which must load).
/// </summary>
public sealed class ProxCommandLineTests
{
    private const string WorkingDirectory = "/srv/prox";

    [Fact]
    public void Without_options_prox_listens_on_every_ipv4_address_at_the_destination_port()
    {
        var yaml = Write("www.example.com", "80");
        Assert.Equal("""
            # tpt prox www.example.com 80
            # prox.py's command line as a tpt configuration: 'tpt -c FILE' runs the same as the command above.
            version: 2
            servers:
              prox:
                listen: ["0.0.0.0:80"]
                maxclients: 100000  # prox.py has no cap
                write_timeout: off
                # filters:  # prox.py's -m, built in: uppercase, lowercase, replace
                #   - {direction: o, uppercase: true}
                #   - {direction: i, replace: {from: "Accept-Encoding: gzip", to: "Accept-Encoding: none"}}
                default: dst
            upstream:
              dst:
                address: "tcp://www.example.com:80"

            """, yaml);
        ConfigTestHelpers.LoadOk(yaml);
    }

    [Fact]
    public void Ssl_with_an_auto_certificate_mints_from_ca_pem_and_forwards_the_sni_upstream()
    {
        var yaml = Write("-s", "-A", "www.evil.com", "-l", "log.txt", "-L", "8888", "1.2.3.4", "443");
        Assert.Contains("""
                listen: ["0.0.0.0:8888"]
                terminate_tls:
                  mint:
                    ca_cert: "/srv/prox/ca.pem"
                    validity: 7d
                  fallback_name: "www.evil.com"
                capture:
                  path: "/srv/prox/log.txt"
                  mode: truncate
            """.ReplaceLineEndings("\n"), yaml, StringComparison.Ordinal);
        Assert.Contains("""
                address: "tcp://1.2.3.4:443"
                tls:
                  server_name: from_client
                  verify: none
            """.ReplaceLineEndings("\n"), yaml, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--ssl-in", "h", "443" }, "      cert: \"/srv/prox/cert.pem\"\n")]
    [InlineData(new[] { "--ssl-in", "-C", "mine", "h", "443" }, "      cert: \"/srv/prox/mine.pem\"\n")]
    [InlineData(new[] { "-A", "x", "--ssl-in", "-Cmyca", "h", "443" }, "        ca_cert: \"/srv/prox/myca.pem\"\n")]
    [InlineData(new[] { "--ssl-out", "-c", "client", "h", "443" }, "    tls:\n      verify: none\n      cert: \"/srv/prox/client.cert\"\n      key: \"/srv/prox/client.key\"\n")]
    [InlineData(new[] { "-6", "-L", "8888", "::ffff:173.194.64.147", "80" }, "    listen: [\"0.0.0.0:8888\", \"[::]:8888\"]\n")]
    [InlineData(new[] { "-6", "-L", "8888", "::ffff:173.194.64.147", "80" }, "    address: \"tcp://[::ffff:173.194.64.147]:80\"\n")]
    [InlineData(new[] { "-b", "::1", "h", "80" }, "    listen: [\"[::1]:80\"]\n")]
    [InlineData(new[] { "-L", "8888", "-O" }, "    transparent: true\n")]
    [InlineData(new[] { "-L8888", "-O" }, "    address: original_dst\n")]
    [InlineData(new[] { "-1", "h", "80" }, "    maxclients: 1\n")]
    public void Each_option_becomes_its_key(string[] args, string expected)
    {
        Assert.Contains(expected, Write(args), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "h" }, "specify address and port")]
    [InlineData(new[] { "h", "http" }, "invalid port: http")]
    [InlineData(new[] { "-L", "x", "h", "1" }, "option -L: invalid integer value: 'x'")]
    [InlineData(new[] { "-3", "h", "1" }, "-3 is not supported: SSLv3")]
    [InlineData(new[] { "-T", "h", "1" }, "-T is not supported: TLS 1.0")]
    [InlineData(new[] { "-m", "modFiltCase:x", "h", "1" }, "-m is not supported")]
    [InlineData(new[] { "-O" }, "-O needs -L")]
    [InlineData(new[] { "--bogus", "h", "1" }, "no such option: --bogus")]
    public void Mistakes_are_usage_errors(string[] args, string error)
    {
        Assert.Null(ProxCommandLine.Parse(args, out var message, out _));
        Assert.StartsWith(error, message, StringComparison.Ordinal);
    }

    private static string Write(params string[] args)
    {
        var options = ProxCommandLine.Parse(args, out var error, out _);
        Assert.True(options is not null, error);
        return ProxConfigWriter.Write(options, WorkingDirectory);
    }
}
