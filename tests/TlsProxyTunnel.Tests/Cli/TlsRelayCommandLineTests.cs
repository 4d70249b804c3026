using TlsProxyTunnel.Cli;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Tests.Configuration;

namespace TlsProxyTunnel.Tests.Cli;

/// <summary><c>tpt tlsrelay</c>: tx_tlsrelay's command line, its defaults, and the configuration it becomes.</summary>
public sealed class TlsRelayCommandLineTests
{
    private const string WorkingDirectory = "/srv/relay";

    [Fact]
    public void Without_arguments_the_originals_defaults_apply()
    {
        var options = Parse();
        Assert.Equal((12000, 200, "127.0.0.1", "./relay_server_certs"), (options.Port, options.PortCount, options.MyHost, options.Keys));
        Assert.False(options.PrintConfig);
    }

    [Theory]
    [InlineData(new[] { "13000", "--port-count", "4", "--myhost", "relay.example.net", "-k", "keys" }, 13000, 4, "relay.example.net", "keys")]
    [InlineData(new[] { "--port-count=10", "-kkeys", "--myh", "h", "14000" }, 14000, 10, "h", "keys")]
    [InlineData(new[] { "--keys", "a", "--keys", "b" }, 12000, 200, "127.0.0.1", "b")]
    public void Options_are_read_in_any_order_and_form(string[] args, int port, int count, string host, string keys)
    {
        var options = Parse(args);
        Assert.Equal((port, count, host, keys), (options.Port, options.PortCount, options.MyHost, options.Keys));
    }

    [Theory]
    [InlineData(new[] { "--port-count", "5" }, "must be an even number")]
    [InlineData(new[] { "--port-count" }, "expected one argument")]
    [InlineData(new[] { "70000" }, "invalid port '70000'")]
    [InlineData(new[] { "65500", "--port-count", "200" }, "passes 65535")]
    [InlineData(new[] { "--bogus" }, "unrecognized arguments: --bogus")]
    [InlineData(new[] { "1", "2" }, "unrecognized arguments: 2")]
    [InlineData(new[] { "--myhost", "a b" }, "without spaces")]
    public void Mistakes_are_usage_errors(string[] args, string message)
    {
        var parsed = TlsRelayCommandLine.Parse(args);
        Assert.Null(parsed.Options);
        Assert.Contains(message, parsed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_is_help() => Assert.True(TlsRelayCommandLine.Parse(["-h"]).Help);

    [Fact]
    public void The_configuration_is_a_tls_relay_with_the_key_directorys_files_and_the_original_layout()
    {
        using var keys = new CertificateDirectory();
        var (ca, chain, key) = keys.Chain("relay");
        File.Copy(ca, keys.File("ca.crt.pem"));
        File.Copy(chain, keys.File("server.crt.pem"));
        File.Copy(key, keys.File("server.key.pem"));
        var yaml = TlsRelayConfigWriter.Write(Parse("13000", "--port-count", "4", "--myhost", "relay.example.net", "-k", keys.Path), WorkingDirectory);
        Assert.Contains($"cert: \"{keys.Path}/server.crt.pem\"", yaml, StringComparison.Ordinal);

        var server = ConfigTestHelpers.LoadOk(yaml).Servers.Single();
        Assert.Equal(ServerKind.TlsRelay, server.Kind);
        var relay = server.Relay!;
        Assert.Equal("0.0.0.0:13000", relay.Control.EndPoint.ToString());
        Assert.Equal(("relay.example.net", 4, "0.0.0.0"), (relay.AdvertiseHost, relay.PortCount, relay.Bind!.ToString()));
        Assert.Null(relay.PendingTimeout);
        Assert.Equal(ClientCertificateMode.Require, server.TerminateTls!.ClientCertificate);
        Assert.Single(server.TerminateTls.ClientCa);
    }

    [Fact]
    public void A_relative_key_directory_is_the_working_directorys()
    {
        var yaml = TlsRelayConfigWriter.Write(Parse(), WorkingDirectory);
        Assert.Contains("client_ca: \"/srv/relay/relay_server_certs/ca.crt.pem\"", yaml, StringComparison.Ordinal);
        Assert.StartsWith("# tpt tlsrelay \n", yaml, StringComparison.Ordinal);
    }

    private static TlsRelayOptions Parse(params string[] args)
    {
        var parsed = TlsRelayCommandLine.Parse(args);
        Assert.True(parsed.Options is not null, parsed.Error);
        return parsed.Options;
    }
}
