using System.Globalization;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.TlsData;

namespace TlsProxyTunnel.IntegrationTests.Datagrams;

/// <summary>
/// seed-tools.md §2.6 UOTP-5: tpt's uotp client and server against the original udp-over-tls-pool in every pairing,
/// each with mutual TLS and with --no-tls: 100 numbered datagrams through client → server → UDP echo and back, every
/// reply one that was sent.
/// </summary>
public sealed class UotpInteropTests : IDisposable
{
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(10);
    private readonly TestPki _pki = new();
    private readonly List<TempConfig> _configs = [];

    public void Dispose()
    {
        foreach (var config in _configs)
        {
            config.Dispose();
        }

        _pki.Dispose();
    }

    [Theory]
    [InlineData("tpt", "original", false)]
    [InlineData("original", "tpt", true)]
    [InlineData("original", "tpt", false)]
    [InlineData("tpt", "tpt", true)]
    [InlineData("tpt", "tpt", false)]
    [InlineData("original", "original", false)]
    public Task Hundred_numbered_datagrams_are_echoed_through_each_pairing(string client, string server, bool tls) => EchoHundredAsync(client, server, tls);

    /// <summary>The original server over TLS: only where a Python without the asyncio SSL stall runs it.</summary>
    [OriginalUotpTlsServerTheory]
    [InlineData("tpt")]
    [InlineData("original")]
    public Task Hundred_numbered_datagrams_are_echoed_through_the_original_server_over_mutual_tls(string client) => EchoHundredAsync(client, "original", tls: true);

    private async Task EchoHundredAsync(string client, string server, bool tls)
    {
        using var echo = new UdpEcho();
        await using var serverPeer = await StartServerAsync(server, tls, echo.Port);
        await using var clientPeer = await StartClientAsync(client, tls, serverPeer.Port);

        using var peer = new UdpPeer(clientPeer.Port);
        var tag = $"{client}-{server}-{(tls ? "tls" : "plain")}";
        var replies = await peer.EchoNumberedAsync(100, tag, Quiet);
        var sent = Enumerable.Range(0, 100).Select(i => $"{tag}-{i:D3}").ToHashSet(StringComparer.Ordinal);
        Assert.True(replies.Count >= 99, $"{replies.Count} of 100 came back, the echo saw {echo.Sizes.Count}\nclient:\n{clientPeer.Output}\nserver:\n{serverPeer.Output}");
        Assert.All(replies, r => Assert.Contains(r, sent));
        Assert.Equal(replies.Count, replies.Distinct(StringComparer.Ordinal).Count());

        // One session, so one source port at the destination.
        Assert.Single(echo.Sources);
    }

    private async Task<Peer> StartServerAsync(string which, bool tls, int echoPort)
    {
        if (which == "original")
        {
            var port = FreePort.Tcp();
            string[] tlsArgs = tls ? ["-c", _pki.Cert("server"), "-k", _pki.Key("server"), "-C", _pki.Cert("clientca")] : ["--no-tls"];
            var original = await OriginalUotp.StartServerAsync(["-a", "127.0.0.1", "-p", P(port), .. tlsArgs, "127.0.0.1", P(echoPort)]);
            return new Peer(port, original, null);
        }

        var terminate = tls
            ? $"    terminate_tls: {{cert: \"{_pki.Cert("server")}\", key: \"{_pki.Key("server")}\", client_ca: \"{_pki.Cert("clientca")}\", client_cert: require}}\n"
            : "";
        var config = Config($$"""
            version: 2
            servers:
              uotp_out:
                listen: ["127.0.0.1:0"]
            {{terminate}}    decapsulate: uotp
                default: backend
            upstream:
              backend: "udp://127.0.0.1:{{echoPort}}"
            """);
        var tpt = await TptProcess.StartAsync(config, expectedListeners: 1);
        return new Peer(tpt.EndPoint("uotp_out").Port, null, tpt);
    }

    private async Task<Peer> StartClientAsync(string which, bool tls, int serverPort)
    {
        if (which == "original")
        {
            var port = FreePort.TcpAndUdp();
            string[] tlsArgs = tls ? ["-C", _pki.Cert("ca"), "-c", _pki.Cert("client"), "-k", _pki.Key("client")] : ["--no-tls"];
            var original = await OriginalUotp.StartClientAsync(["-a", "127.0.0.1", "-p", P(port), "-n", "4", .. tlsArgs, "localhost", P(serverPort)]);
            return new Peer(port, original, null);
        }

        var tlsBlock = tls
            ? $"    tls: {{server_name: localhost, ca: \"{_pki.Cert("ca")}\", cert: \"{_pki.Cert("client")}\", key: \"{_pki.Key("client")}\"}}\n"
            : "";
        var config = Config($$"""
            version: 2
            servers:
              uotp_in:
                protocol: udp
                listen: ["127.0.0.1:0"]
                default: tunnel
            upstream:
              tunnel:
                address: "tcp://127.0.0.1:{{serverPort}}"
                encapsulate: uotp
                connections: 4
                backoff: 1s
                connect_timeout: 4s
            {{tlsBlock}}
            """);
        var tpt = await TptProcess.StartAsync(config, expectedListeners: 1);
        return new Peer(tpt.EndPoint("uotp_in").Port, null, tpt);
    }

    private string Config(string yaml)
    {
        var config = new TempConfig(yaml);
        _configs.Add(config);
        return config.Path;
    }

    private static string P(int port) => port.ToString(CultureInfo.InvariantCulture);

    private sealed class Peer(int port, OriginalUotp? original, TptProcess? tpt) : IAsyncDisposable
    {
        public int Port { get; } = port;

        public string Output => original?.AllOutput ?? tpt?.AllOutput ?? "";

        public async ValueTask DisposeAsync()
        {
            if (original is not null)
            {
                await original.DisposeAsync();
            }

            if (tpt is not null)
            {
                await tpt.DisposeAsync();
            }
        }
    }
}
