using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>
/// Debian's HAProxy in the foreground (<c>-db</c>) on a configuration written to a temporary directory. HAProxy
/// prints nothing when it is ready, so the start waits until every port it was given accepts.
/// </summary>
public sealed class HaproxyProcess : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly Process _process;
    private readonly Task<string> _stderr;
    private readonly string _directory;

    private HaproxyProcess(Process process, string directory)
    {
        _process = process;
        _directory = directory;
        _stderr = process.StandardError.ReadToEndAsync();
    }

    public static string Binary => File.Exists("/usr/sbin/haproxy") ? "/usr/sbin/haproxy" : "haproxy";

    /// <param name="config">The whole configuration file.</param>
    /// <param name="ports">Loopback ports its frontends bind; all must accept before this returns.</param>
    public static async Task<HaproxyProcess> StartAsync(string config, params int[] ports)
    {
        var directory = Directory.CreateTempSubdirectory("tpt-haproxy-").FullName;
        var path = Path.Combine(directory, "haproxy.cfg");
        // HAProxy refuses a last line without its LF.
        await File.WriteAllTextAsync(path, config.EndsWith('\n') ? config : config + "\n");
        var info = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["-db", "-f", path])
        {
            info.ArgumentList.Add(a);
        }

        var haproxy = new HaproxyProcess(Process.Start(info)!, directory);
        try
        {
            foreach (var port in ports)
            {
                await haproxy.WaitUntilListeningAsync(port);
            }
        }
        catch
        {
            await haproxy.DisposeAsync();
            throw;
        }

        return haproxy;
    }

    private async Task WaitUntilListeningAsync(int port)
    {
        using var deadline = new CancellationTokenSource(Bound);
        while (true)
        {
            if (_process.HasExited)
            {
                Assert.Fail($"haproxy exited: {await _stderr}");
            }

            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), deadline.Token);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50, deadline.Token);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(true);
        }

        await _process.WaitForExitAsync().WaitAsync(Bound);
        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
