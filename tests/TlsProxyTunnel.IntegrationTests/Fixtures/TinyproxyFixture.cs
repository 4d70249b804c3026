using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TlsProxyTunnel.IntegrationTests.Fixtures;

/// <summary>A real tinyproxy on a loopback port chosen by the OS, in the foreground, for one test.</summary>
public sealed class TinyproxyFixture : IAsyncDisposable
{
    private static readonly string[] Candidates = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"];
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(10);

    private readonly Process _process;
    private readonly string _directory;
    private readonly StringBuilder _output = new();

    private TinyproxyFixture(Process process, string directory, IPEndPoint endPoint)
    {
        _process = process;
        _directory = directory;
        EndPoint = endPoint;
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Everything tinyproxy logged so far, for assertion messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static string FindBinary() =>
        Candidates.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException(
            "tinyproxy is not installed; these tests need a real HTTP CONNECT proxy: apt-get install tinyproxy-bin");

    /// <param name="basicAuth">When set, tinyproxy demands these credentials (407 otherwise).</param>
    public static async Task<TinyproxyFixture> StartAsync((string User, string Password)? basicAuth = null)
    {
        var binary = FindBinary();
        var directory = Directory.CreateTempSubdirectory("tpt-tinyproxy-").FullName;

        // tinyproxy cannot listen on port 0: take a free port from the OS, release it, hand it over.
        // Another process may grab it in between, so a failed start is retried on a new port.
        for (var attempt = 1; ; attempt++)
        {
            var port = FreeTcpPort();
            var config = new StringBuilder()
                .Append("Port ").Append(port).Append('\n')
                .Append("Listen 127.0.0.1\n")
                .Append("Timeout 30\n")
                .Append("Allow 127.0.0.1\n")
                .Append("LogLevel Info\n")
                .Append("MaxClients 50\n");
            if (basicAuth is { } auth)
            {
                config.Append("BasicAuth ").Append(auth.User).Append(' ').Append(auth.Password).Append('\n');
            }

            // No ConnectPort line: CONNECT is allowed to every port.
            var configPath = Path.Combine(directory, $"tinyproxy-{attempt}.conf");
            await File.WriteAllTextAsync(configPath, config.ToString());

            var process = new Process
            {
                StartInfo = new ProcessStartInfo(binary)
                {
                    ArgumentList = { "-d", "-c", configPath },
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                },
            };
            var fixture = new TinyproxyFixture(process, directory, new IPEndPoint(IPAddress.Loopback, port));
            process.OutputDataReceived += (_, e) => fixture.Append(e.Data);
            process.ErrorDataReceived += (_, e) => fixture.Append(e.Data);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();

            if (await fixture.WaitUntilListeningAsync())
            {
                return fixture;
            }

            var log = fixture.Output;
            await fixture.StopProcessAsync();
            if (attempt == 3)
            {
                Directory.Delete(directory, recursive: true);
                throw new InvalidOperationException($"tinyproxy did not start on 127.0.0.1:{port}:\n{log}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopProcessAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp directory is harmless.
        }
    }

    internal static int FreeTcpPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private async Task<bool> WaitUntilListeningAsync()
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartDeadline && !_process.HasExited)
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(EndPoint).WaitAsync(TimeSpan.FromSeconds(1));
                return true;
            }
            catch (Exception ex) when (ex is SocketException or TimeoutException)
            {
                await Task.Delay(50);
            }
        }

        return false;
    }

    private async Task StopProcessAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
        finally
        {
            _process.Dispose();
        }
    }
}
