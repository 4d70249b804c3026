using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Fixtures;

/// <summary>
/// A real dnsmasq on a loopback port chosen by the OS, serving only the records the test writes
/// (an addn-hosts file, re-read on SIGHUP) and authoritative for <c>.test</c>, so unknown names
/// get NXDOMAIN instead of being forwarded anywhere.
/// </summary>
public sealed class DnsmasqFixture : IAsyncDisposable
{
    private const string Binary = "/usr/sbin/dnsmasq";
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(10);

    private readonly string _directory;
    private readonly string _hostsPath;
    private readonly StringBuilder _output = new();
    private TaskCompletionSource _lineArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Process? _process;

    private DnsmasqFixture(string directory)
    {
        _directory = directory;
        _hostsPath = Path.Combine(directory, "records.hosts");
    }

    public IPEndPoint EndPoint { get; private set; } = new(IPAddress.Loopback, 0);

    /// <summary>A temporary directory the test may use for its own files (resolv.conf, hosts).</summary>
    public string Directory => _directory;

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

    /// <summary>
    /// Waits for <paramref name="text"/> in what dnsmasq logged (its query log included). A query it answered is
    /// logged by another process, read on another thread: the answer can reach the test before the log line does.
    /// </summary>
    public async Task AssertLoggedAsync(string text)
    {
        var exited = _process?.WaitForExitAsync() ?? Task.CompletedTask;
        Assert.True(await WaitForOutputAsync(text, 0, exited, StartDeadline), $"dnsmasq never logged '{text}':\n{Output}");
    }

    /// <param name="records">hosts-file lines, for example <c>192.0.2.1 web.test</c>.</param>
    /// <param name="ttl">The TTL dnsmasq puts on these answers (<c>--local-ttl</c>).</param>
    public static async Task<DnsmasqFixture> StartAsync(IEnumerable<string> records, int ttl)
    {
        if (!File.Exists(Binary))
        {
            throw new InvalidOperationException("dnsmasq is not installed; these tests need a real DNS server: apt-get install dnsmasq-base");
        }

        var fixture = new DnsmasqFixture(System.IO.Directory.CreateTempSubdirectory("tpt-dnsmasq-").FullName);
        await fixture.WriteRecordsAsync(records);

        // dnsmasq needs a concrete port: take a free one from the OS and retry should another process grab it first.
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort.TcpAndUdp();
            if (await fixture.TryStartAsync(port, ttl))
            {
                return fixture;
            }

            if (attempt == 10)
            {
                var log = fixture.Output;
                await fixture.DisposeAsync();
                throw new InvalidOperationException($"dnsmasq did not start:\n{log}");
            }
        }
    }

    /// <summary>Replaces the records and makes dnsmasq re-read them (SIGHUP re-reads addn-hosts).</summary>
    public async Task ReplaceRecordsAsync(IEnumerable<string> records)
    {
        await WriteRecordsAsync(records);
        var from = Output.Length;
        PosixSignal.Send(_process!.Id, TptProcess.SIGHUP);

        // SIGHUP is handled asynchronously: the records are in service once dnsmasq says it read the file.
        if (!await WaitForOutputAsync($"read {_hostsPath}", from, _process.WaitForExitAsync(), StartDeadline))
        {
            throw new InvalidOperationException($"dnsmasq did not re-read {_hostsPath}:\n{Output}");
        }
    }

    /// <summary>Stops the server for good: the port goes dead.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>
    /// Brings a killed server back on the same port (tpt was configured with it) with <paramref name="records"/>.
    /// The port is UDP on loopback and was ours a moment ago; should another process have taken it, this throws.
    /// </summary>
    public async Task RestartAsync(IEnumerable<string> records, int ttl)
    {
        await KillAsync();
        _process?.Dispose();
        _process = null;
        await WriteRecordsAsync(records);
        lock (_output)
        {
            _output.Clear();
        }

        if (!await TryStartAsync(EndPoint.Port, ttl))
        {
            throw new InvalidOperationException($"dnsmasq did not restart on port {EndPoint.Port}:\n{Output}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process?.Dispose();
        try
        {
            System.IO.Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp directory is harmless.
        }
    }

    private Task WriteRecordsAsync(IEnumerable<string> records)
    {
        // Write then rename so dnsmasq never reads a half-written file.
        var temp = _hostsPath + ".new";
        File.WriteAllText(temp, string.Join('\n', records) + "\n");
        File.Move(temp, _hostsPath, overwrite: true);
        return Task.CompletedTask;
    }

    private async Task<bool> TryStartAsync(int port, int ttl)
    {
        var process = new Process
        {
            StartInfo = new ProcessStartInfo(Binary)
            {
                ArgumentList =
                {
                    "--keep-in-foreground",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    "--no-poll",
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    $"--port={port}",
                    "--user=root",
                    "--pid-file=",
                    "--local=/test/",
                    $"--addn-hosts={_hostsPath}",
                    $"--local-ttl={ttl}",
                    "--log-facility=-",
                    "--log-queries",
                },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            },
        };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        EndPoint = new IPEndPoint(IPAddress.Loopback, port);

        // dnsmasq logs "started" after binding its sockets; it exits at once when it cannot bind.
        var exited = process.WaitForExitAsync();
        if (await WaitForOutputAsync("started, version", 0, exited, StartDeadline))
        {
            return true;
        }

        if (process.HasExited)
        {
            process.Dispose();
            _process = null;
            return false;
        }

        process.Kill();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        process.Dispose();
        _process = null;
        return false;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        TaskCompletionSource arrived;
        lock (_output)
        {
            _output.AppendLine(line);
            arrived = _lineArrived;
            _lineArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        arrived.TrySetResult();
    }

    /// <summary>
    /// Waits until the output after character <paramref name="from"/> contains <paramref name="text"/>, woken by
    /// each line dnsmasq writes; false when <paramref name="exited"/> completes or the deadline passes first.
    /// </summary>
    private async Task<bool> WaitForOutputAsync(string text, int from, Task exited, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            Task next;
            lock (_output)
            {
                if (_output.Length > from && _output.ToString(from, _output.Length - from).Contains(text, StringComparison.Ordinal))
                {
                    return true;
                }

                next = _lineArrived.Task;
            }

            var woke = await Task.WhenAny(next, exited, Task.Delay(Timeout.Infinite, deadline.Token));
            if (woke != next)
            {
                return false;
            }
        }
    }
}
