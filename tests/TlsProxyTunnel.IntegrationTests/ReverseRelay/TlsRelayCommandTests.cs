using System.Net;
using System.Net.Sockets;
using TlsProxyTunnel.IntegrationTests.Infrastructure;
using TlsProxyTunnel.IntegrationTests.TlsData;

namespace TlsProxyTunnel.IntegrationTests.ReverseRelay;

/// <summary><c>tpt tlsrelay</c> run with tx_tlsrelay's command line and key directory layout, served to a scripted server.</summary>
public sealed class TlsRelayCommandTests : IDisposable
{
    private readonly TestPki _pki = new();
    private readonly string _keys = Directory.CreateTempSubdirectory("tpt-relay-keys-").FullName;

    public void Dispose()
    {
        _pki.Dispose();
        Directory.Delete(_keys, recursive: true);
    }

    [Fact]
    public async Task The_originals_command_line_runs_a_relay_with_its_key_directory_and_port_layout()
    {
        // The original's file names: the relay's leaf and key, and the one CA both sides' certificates chain to.
        File.Copy(_pki.Cert("server"), Path.Combine(_keys, "server.crt.pem"));
        File.Copy(_pki.Key("server"), Path.Combine(_keys, "server.key.pem"));
        File.Copy(_pki.Cert("clientca"), Path.Combine(_keys, "ca.crt.pem"));

        // tx_tlsrelay has no port 0: a block free a moment ago, tried again if something took it meanwhile.
        for (var attempt = 0; ; attempt++)
        {
            var port = FreePort.TcpBlock(3, IPAddress.Any);
            await using var tpt = await StartOrNullAsync(["tlsrelay", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--port-count", "2", "--myhost", "127.0.0.1", "-k", _keys]);
            if (tpt is null && attempt < 5)
            {
                continue;
            }

            Assert.NotNull(tpt);
            await using var control = await ControlClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), _pki);
            Assert.Equal($"public_listener 127.0.0.1:{port + 2}\r\n", await control.ReadLineAsync());
            Assert.Equal($"reverse_listener 127.0.0.1:{port + 1}\r\n", await control.ReadLineAsync());
            return;
        }
    }

    private static async Task<TptProcess?> StartOrNullAsync(string[] args)
    {
        try
        {
            return await TptProcess.StartCommandAsync(args, expectedListeners: 1, new Dictionary<string, string?> { ["TPT_LOG"] = "info" });
        }
        catch (TimeoutException e) when (e.Message.Contains("cannot listen", StringComparison.Ordinal))
        {
            return null;
        }
    }
}
