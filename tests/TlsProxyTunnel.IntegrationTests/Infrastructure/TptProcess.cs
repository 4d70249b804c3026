using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using System.Threading.Channels;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>The real tpt binary as a child process, with its stderr collected line by line.</summary>
public sealed partial class TptProcess : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Channel<string> _newLines = Channel.CreateUnbounded<string>();
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private TptProcess(Process process)
    {
        _process = process;
    }

    public int Pid => _process.Id;

    public string Stdout { get; private set; } = "";

    /// <summary>Every stderr line so far.</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public string AllOutput => string.Join('\n', Lines) + "\n" + Stdout;

    /// <summary>Runs tpt to completion (for check, help, errors).</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunToExitAsync(IEnumerable<string> args, IDictionary<string, string?>? environment = null, string? workingDirectory = null)
    {
        var process = Process.Start(StartInfo(args, environment, workingDirectory))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(DefaultTimeout);
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts tpt on a config file and waits until every listener it logs is bound.</summary>
    /// <param name="launcher">A command that runs tpt for us (<c>nsenter --net=... --</c>): tpt's command line follows it.</param>
    public static async Task<TptProcess> StartAsync(string configPath, int expectedListeners, IDictionary<string, string?>? environment = null, IEnumerable<string>? extraArgs = null, IReadOnlyList<string>? launcher = null)
    {
        var env = new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>());
        env.TryAdd("TPT_LOG", "info");
        var tpt = Launch(configPath, env, extraArgs, launcher);
        try
        {
            for (var i = 0; i < expectedListeners; i++)
            {
                await tpt.WaitForLineAsync(l => l.Contains("Listening: server", StringComparison.Ordinal), skipSeen: i);
            }
        }
        catch
        {
            await tpt.DisposeAsync();
            throw;
        }

        return tpt;
    }

    /// <summary>Starts tpt with a command line of its own (<c>ptw ...</c>) and waits until it has logged that many listeners.</summary>
    public static async Task<TptProcess> StartCommandAsync(IEnumerable<string> args, int expectedListeners, IDictionary<string, string?>? environment = null)
    {
        var process = Process.Start(StartInfo(args, environment ?? new Dictionary<string, string?>(), null))!;
        var tpt = new TptProcess(process);
        _ = tpt.PumpStderrAsync();
        _ = Task.Run(async () => tpt.Stdout = await process.StandardOutput.ReadToEndAsync());
        try
        {
            for (var i = 0; i < expectedListeners; i++)
            {
                await tpt.WaitForLineAsync(l => l.Contains("Listening: server", StringComparison.Ordinal), skipSeen: i);
            }
        }
        catch
        {
            await tpt.DisposeAsync();
            throw;
        }

        return tpt;
    }

    /// <summary>
    /// Starts tpt with logging left to the configuration (which may silence it), and waits until it listens on
    /// <paramref name="listeners"/> TCP sockets, seen in /proc instead of in a log line; <see cref="ListeningEndPoints"/>
    /// then says where. The configuration can listen on port 0: a port found free beforehand and released may be
    /// handed to any other listener on port 0 before tpt binds it, and then the probe reaches that one.
    /// </summary>
    public static async Task<TptProcess> StartQuietAsync(string configPath, int listeners, IDictionary<string, string?>? environment = null)
    {
        var tpt = Launch(configPath, environment ?? new Dictionary<string, string?>());
        var deadline = Stopwatch.StartNew();
        while (tpt.ListeningEndPoints().Count < listeners)
        {
            if (tpt.HasExited || deadline.Elapsed > DefaultTimeout)
            {
                throw new TimeoutException($"tpt did not listen on {listeners} socket(s) (exited: {tpt.HasExited}). Output so far:\n{tpt.AllOutput}");
            }

            // Start-up takes a few hundred milliseconds and may log nothing we could wait on.
            await Task.Delay(50);
        }

        return tpt;
    }

    /// <summary>The IPv4 TCP sockets tpt listens on, in the order of its descriptors, from /proc/PID/fd and /proc/PID/net/tcp.</summary>
    public IReadOnlyList<IPEndPoint> ListeningEndPoints()
    {
        try
        {
            var sockets = new List<string>();
            foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{_process.Id}/fd").OrderBy(f => int.Parse(Path.GetFileName(f), System.Globalization.CultureInfo.InvariantCulture)))
            {
                try
                {
                    if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("socket:[", StringComparison.Ordinal))
                    {
                        sockets.Add(target["socket:[".Length..^1]);
                    }
                }
                catch (IOException)
                {
                    // The descriptor closed while we looked.
                }
            }

            // Columns: sl, local address, remote address, state (0A: LISTEN), queues, timers, retransmits, uid, timeout, inode.
            var listening = new Dictionary<string, IPEndPoint>(StringComparer.Ordinal);
            foreach (var line in File.ReadLines($"/proc/{_process.Id}/net/tcp").Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 9 && fields[3] == "0A")
                {
                    var local = fields[1].Split(':');
                    var address = new IPAddress(long.Parse(local[0], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture));
                    listening[fields[9]] = new IPEndPoint(address, int.Parse(local[1], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture));
                }
            }

            return [.. sockets.Where(listening.ContainsKey).Select(s => listening[s])];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not started yet, or gone.
            return [];
        }
    }

    private static TptProcess Launch(string configPath, IDictionary<string, string?> environment, IEnumerable<string>? extraArgs = null, IReadOnlyList<string>? launcher = null)
    {
        var process = Process.Start(StartInfo(["-c", configPath, .. extraArgs ?? []], environment, null, launcher))!;
        var tpt = new TptProcess(process);
        _ = tpt.PumpStderrAsync();
        _ = Task.Run(async () => tpt.Stdout = await process.StandardOutput.ReadToEndAsync());
        return tpt;
    }

    /// <summary>The address a server's n-th listener was bound to (port 0 resolved).</summary>
    public IPEndPoint EndPoint(string server, int index = 0)
    {
        var matches = Lines.Select(l => ListeningLine().Match(l)).Where(m => m.Success && m.Groups[1].Value == server).ToArray();
        return IPEndPoint.Parse(matches[index].Groups[2].Value);
    }

    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, TimeSpan? timeout = null, int skipSeen = 0)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        var seen = 0;

        // One snapshot for both the scan and the resume index: a line logged between two snapshots would be skipped.
        var snapshot = Lines;
        foreach (var line in snapshot)
        {
            if (predicate(line) && seen++ >= skipSeen)
            {
                return line;
            }
        }

        var startIndex = snapshot.Count;
        try
        {
            // Lines that arrived between the snapshot and now are re-read from the list to avoid a gap.
            while (await _newLines.Reader.WaitToReadAsync(cts.Token))
            {
                while (_newLines.Reader.TryRead(out _))
                {
                }

                var all = Lines;
                for (var i = startIndex; i < all.Count; i++)
                {
                    if (predicate(all[i]) && seen++ >= skipSeen)
                    {
                        return all[i];
                    }
                }

                startIndex = all.Count;
            }
        }
        catch (OperationCanceledException)
        {
        }

        throw new TimeoutException($"tpt did not log the expected line in time. Output so far:\n{AllOutput}");
    }

    public void Signal(int signal) => PosixSignal.Send(_process.Id, signal);

    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout ?? DefaultTimeout);
        await _stderrClosed.Task.WaitAsync(DefaultTimeout);
        return _process.ExitCode;
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Open socket descriptors of the process, from /proc.</summary>
    public int OpenSocketCount()
    {
        var count = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{_process.Id}/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // The descriptor closed while we looked.
            }
        }

        return count;
    }

    /// <summary>Waits until the socket count drops to <paramref name="expected"/>; closing is asynchronous, so poll briefly.</summary>
    public async Task<int> WaitForSocketCountAsync(int expected, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        int count;
        while ((count = OpenSocketCount()) > expected && deadline.Elapsed < limit)
        {
            await Task.Delay(50);
        }

        return count;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(DefaultTimeout);
        }

        _process.Dispose();
    }

    internal static string TptDll => Path.Combine(AppContext.BaseDirectory, "tpt.dll");

    /// <summary>TPT_TEST_BINARY runs the suite against a published binary (e.g. Native AOT) instead of the build output.</summary>
    private static string? PublishedBinary => System.Environment.GetEnvironmentVariable("TPT_TEST_BINARY") is { Length: > 0 } binary ? binary : null;

    /// <summary>
    /// The same tpt the other tests start, as one /bin/sh command line, for tools that take a command
    /// string (varnishtest): each word single-quoted.
    /// </summary>
    public static string ShellCommand =>
        PublishedBinary is { } binary ? ShellQuote(binary) : $"dotnet {ShellQuote(TptDll)}";

    private static string ShellQuote(string word) => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static ProcessStartInfo StartInfo(IEnumerable<string> args, IDictionary<string, string?>? environment, string? workingDirectory, IReadOnlyList<string>? launcher = null)
    {
        var binary = PublishedBinary;
        var info = new ProcessStartInfo(launcher is { Count: > 0 } ? launcher[0] : binary ?? "dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory,
        };
        if (launcher is { Count: > 0 })
        {
            foreach (var word in launcher.Skip(1))
            {
                info.ArgumentList.Add(word);
            }

            info.ArgumentList.Add(binary ?? "dotnet");
        }

        if (binary is null)
        {
            info.ArgumentList.Add(TptDll);
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // The child gets its own environment; the test process's is never changed.
        info.Environment.Remove("TPT_CONFIG");
        info.Environment.Remove("TPT_LOG");
        info.Environment.Remove("RUST_LOG");
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            // Null means "unset in the child" (e.g. TPT_LOG, so that RUST_LOG is read).
            if (value is null)
            {
                info.Environment.Remove(key);
            }
            else
            {
                info.Environment[key] = value;
            }
        }

        return info;
    }

    private async Task PumpStderrAsync()
    {
        try
        {
            while (await _process.StandardError.ReadLineAsync() is { } line)
            {
                lock (_lines)
                {
                    _lines.Add(line);
                }

                _newLines.Writer.TryWrite(line);
            }
        }
        finally
        {
            _stderrClosed.TrySetResult();
        }
    }

    [GeneratedRegex(@"Listening: server (.+?) on (\S+) \(")]
    private static partial Regex ListeningLine();

    public const int SIGTERM = 15;
    public const int SIGINT = 2;
    public const int SIGQUIT = 3;
    public const int SIGHUP = 1;
}
