using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Pool;

/// <summary>
/// HAProxy as a TLS server that answers every HTTP request with the TLS version it saw, and counts its handshakes
/// (<c>CumSslConns</c> on its stats socket). It can be killed, which closes the server side of every connection
/// to it at once, and started again on the same port.
/// </summary>
internal sealed partial class HaproxyTlsServer : IAsyncDisposable
{
    private readonly string _directory;
    private readonly string _socketPath;
    private Process? _process;
    private Task<string>? _output;

    public HaproxyTlsServer(string certificate, string key)
    {
        _directory = Path.Combine(Path.GetTempPath(), $"tpt-haproxy-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_directory);
        _socketPath = Path.Combine(_directory, "stats.sock");
        Port = FreePort.Tcp();
        var pem = Path.Combine(_directory, "server.pem");
        File.WriteAllText(pem, File.ReadAllText(certificate) + File.ReadAllText(key));
        File.WriteAllText(ConfigPath, $"""
            global
              stats socket {_socketPath} level admin
            defaults
              mode http
              timeout connect 5s
              timeout client 120s
              timeout server 120s
              timeout http-request 120s
            frontend tls
              bind 127.0.0.1:{Port} ssl crt {pem}
              http-request return status 200 content-type text/plain lf-string "haproxy over %[ssl_fc_protocol]\n"

            """);
    }

    public int Port { get; }

    private string ConfigPath => Path.Combine(_directory, "haproxy.cfg");

    public async Task StartAsync()
    {
        var info = new ProcessStartInfo(File.Exists("/usr/sbin/haproxy") ? "/usr/sbin/haproxy" : "haproxy") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["-db", "-f", ConfigPath])
        {
            info.ArgumentList.Add(a);
        }

        _process = Process.Start(info)!;
        _output = _process.StandardError.ReadToEndAsync();
        _ = _process.StandardOutput.ReadToEndAsync();

        // HAProxy prints nothing when it is ready; its stats socket answering is the signal.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            if (_process.HasExited)
            {
                Assert.Fail($"haproxy exited: {await _output}");
            }

            try
            {
                await HandshakesAsync();
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50, deadline.Token);
            }
        }
    }

    /// <summary>TLS handshakes HAProxy has completed since it started.</summary>
    public async Task<int> HandshakesAsync()
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(_socketPath));
        await socket.SendAsync(Encoding.ASCII.GetBytes("show info\n"), SocketFlags.None);
        var text = new StringBuilder();
        var buffer = new byte[8192];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(10))) > 0)
        {
            text.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        return int.Parse(CumSslConns().Match(text.ToString()).Groups[1].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>Kills HAProxy: the kernel closes the server side of every connection to it.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }

        File.Delete(_socketPath);
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public IPEndPoint EndPoint => new(IPAddress.Loopback, Port);

    [GeneratedRegex(@"CumSslConns: (\d+)")]
    private static partial Regex CumSslConns();
}
