using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>Certificates made once per test run with the real openssl.</summary>
public static class TestCertificates
{
    private static readonly Lazy<string> Directory = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), $"tpt-certs-{Environment.ProcessId}");
        System.IO.Directory.CreateDirectory(dir);
        return dir;
    });

    private static readonly Lock Gate = new();

    /// <summary>A self-signed certificate and key for <paramref name="commonName"/>: (certPath, keyPath).</summary>
    public static (string Cert, string Key) For(string commonName)
    {
        lock (Gate)
        {
            var cert = Path.Combine(Directory.Value, $"{commonName}.crt");
            var key = Path.Combine(Directory.Value, $"{commonName}.key");
            if (!File.Exists(cert))
            {
                var result = OpenSsl.Run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", $"/CN={commonName}", "-addext", $"subjectAltName=DNS:{commonName}"]);
                Assert.True(result.ExitCode == 0, $"openssl req failed: {result.Output}");
            }

            return (cert, key);
        }
    }
}

public static partial class OpenSsl
{
    public static (int ExitCode, string Output) Run(IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
        }

        process.StandardInput.Close();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(20)))
        {
            process.Kill(true);
            throw new TimeoutException($"openssl {string.Join(' ', args)} did not finish");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>
    /// A real TLS handshake with openssl s_client through <paramref name="endPoint"/> presenting <paramref name="serverName"/>;
    /// returns the output, which names the certificate subject the far end presented.
    /// </summary>
    public static (int ExitCode, string Output) Client(IPEndPoint endPoint, string? serverName, string? send = null)
    {
        List<string> args = ["s_client", "-connect", endPoint.ToString(), "-verify_quiet"];
        if (serverName is not null)
        {
            args.AddRange(["-servername", serverName]);
        }
        else
        {
            args.Add("-noservername");
        }

        return Run(args, send ?? "");
    }

    /// <summary>Captures the exact ClientHello bytes openssl s_client sends for <paramref name="serverName"/>.</summary>
    public static async Task<byte[]> CaptureClientHelloAsync(string? serverName, params string[] extraArgs)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var info = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        info.ArgumentList.Add("s_client");
        info.ArgumentList.Add("-connect");
        info.ArgumentList.Add($"127.0.0.1:{port}");
        if (serverName is null)
        {
            info.ArgumentList.Add("-noservername");
        }
        else
        {
            info.ArgumentList.Add("-servername");
            info.ArgumentList.Add(serverName);
        }

        foreach (var a in extraArgs)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        try
        {
            using var socket = await listener.AcceptSocketAsync().WaitAsync(TimeSpan.FromSeconds(10));
            var hello = new List<byte>();
            var buffer = new byte[65536];
            var needed = 5;
            while (hello.Count < needed)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                Assert.True(read > 0, "openssl closed before sending its ClientHello");
                hello.AddRange(buffer.AsSpan(0, read));
                if (hello.Count >= 5)
                {
                    needed = 5 + ((hello[3] << 8) | hello[4]);
                }
            }

            return [.. hello];
        }
        finally
        {
            process.Kill(true);
        }
    }
}

/// <summary>An openssl s_server backend on a port the OS chose, with a certificate naming it.</summary>
public sealed partial class OpenSslServer : IDisposable
{
    private readonly Process _process;

    private OpenSslServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public static async Task<OpenSslServer> StartAsync(string commonName, bool www = true)
    {
        var (cert, key) = TestCertificates.For(commonName);
        var info = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in (string[])["s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-key", key])
        {
            info.ArgumentList.Add(a);
        }

        if (www)
        {
            info.ArgumentList.Add("-www");
        }

        var process = Process.Start(info)!;
        var readLine = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                var match = AcceptLine().Match(line);
                if (match.Success)
                {
                    return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                }
            }

            return -1;
        });
        var port = await readLine.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(port > 0, "openssl s_server did not report its port");
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        return new OpenSslServer(process, port);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"ACCEPT .*:(\d+)$")]
    private static partial Regex AcceptLine();
}
