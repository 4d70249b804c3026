using System.Diagnostics;
using System.Threading.Channels;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>The original udp-over-tls-pool (Python, unmodified, in ../shared/interop/udp-over-tls-pool), run as a peer.</summary>
public sealed class OriginalUotp : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Channel<string> _newLines = Channel.CreateUnbounded<string>();

    private OriginalUotp(Process process)
    {
        _process = process;
        _ = Task.Run(async () =>
        {
            while (await _process.StandardError.ReadLineAsync() is { } line)
            {
                lock (_lines)
                {
                    _lines.Add(line);
                }

                _newLines.Writer.TryWrite(line);
            }

            _newLines.Writer.TryComplete();
        });
    }

    public string AllOutput
    {
        get
        {
            lock (_lines)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    /// <summary>
    /// The interpreter the original runs under: a Python before 3.11 when the machine has one, else <c>python3</c>.
    /// From 3.11 asyncio's new SSL transport stalls a write awaited with a write-buffer limit of 0 until the connection
    /// reads again (python/cpython#102792), which is what uotp-server's replies do: over TLS they stop arriving.
    /// </summary>
    public static string Python => Interpreter.Value.Path;

    /// <summary>Why uotp-server cannot serve TLS under <see cref="Python"/>; null when it can.</summary>
    public static string? TlsServerDefect => Interpreter.Value.Version >= new Version(3, 11)
        ? $"uotp-server over TLS needs a Python before 3.11 (found only {Interpreter.Value.Version}): from 3.11 asyncio stalls its replies (python/cpython#102792)"
        : null;

    private static readonly Lazy<(string Path, Version Version)> Interpreter = new(FindPython);

    private static (string Path, Version Version) FindPython()
    {
        var candidates = new List<string>();
        var pyenv = System.IO.Path.Combine(Environment.GetEnvironmentVariable("HOME") ?? "/root", ".pyenv", "versions");
        if (System.IO.Directory.Exists(pyenv))
        {
            candidates.AddRange(System.IO.Directory.GetDirectories(pyenv, "3.10*").Concat(System.IO.Directory.GetDirectories(pyenv, "3.9*")).Select(d => System.IO.Path.Combine(d, "bin", "python3")));
        }

        candidates.AddRange(new[] { "/usr/bin/python3.10", "/usr/bin/python3.9" });
        foreach (var candidate in candidates.Where(File.Exists))
        {
            if (VersionOf(candidate) is { } version && version < new Version(3, 11))
            {
                return (candidate, version);
            }
        }

        return ("python3", VersionOf("python3") ?? new Version(3, 11));
    }

    private static Version? VersionOf(string python)
    {
        try
        {
            var info = new ProcessStartInfo(python, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var process = Process.Start(info)!;
            var text = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return process.ExitCode == 0 && Version.TryParse(text, out var version) ? version : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>The folder holding the <c>udp_over_tls_pool</c> package.</summary>
    public static string Directory
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "TlsProxyTunnel.sln")))
                {
                    var uotp = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "interop", "udp-over-tls-pool"));
                    Assert.True(File.Exists(Path.Combine(uotp, "udp_over_tls_pool", "server.py")), $"the original udp-over-tls-pool is missing: expected it in {uotp} (see ../shared/interop/README.md)");
                    return uotp;
                }
            }

            throw new InvalidOperationException("the project root (TlsProxyTunnel.sln) was not found above the test binaries");
        }
    }

    /// <summary>uotp-server with <paramref name="args"/>, once it has said "Server ready.".</summary>
    public static Task<OriginalUotp> StartServerAsync(params string[] args) => StartAsync("server", "Server ready.", args);

    /// <summary>uotp-client with <paramref name="args"/>, once its UDP listener has started.</summary>
    public static Task<OriginalUotp> StartClientAsync(params string[] args) => StartAsync("client", "Listener started", args);

    /// <summary>Runs uotp-server or uotp-client until it exits (help, usage errors).</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunToExitAsync(string role, params string[] args)
    {
        using var process = Process.Start(StartInfo(role, args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(Bound);
        return (process.ExitCode, await stdout, await stderr);
    }

    private static async Task<OriginalUotp> StartAsync(string role, string ready, string[] args)
    {
        var peer = new OriginalUotp(Process.Start(StartInfo(role, args))!);
        try
        {
            await peer.WaitForLineAsync(l => l.Contains(ready, StringComparison.Ordinal));
        }
        catch
        {
            await peer.DisposeAsync();
            throw;
        }

        return peer;
    }

    public async Task<string> WaitForLineAsync(Func<string, bool> predicate)
    {
        lock (_lines)
        {
            if (_lines.FirstOrDefault(predicate) is { } seen)
            {
                return seen;
            }
        }

        using var deadline = new CancellationTokenSource(Bound);
        try
        {
            await foreach (var line in _newLines.Reader.ReadAllAsync(deadline.Token))
            {
                if (predicate(line))
                {
                    return line;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        throw new TimeoutException($"the original uotp did not log the line waited for; it logged:\n{AllOutput}");
    }

    private static ProcessStartInfo StartInfo(string role, string[] args)
    {
        var info = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add($"import sys; sys.path.insert(0, {PythonString(Directory)}); sys.argv[0] = 'uotp-{role}'; from udp_over_tls_pool.{role} import main; main()");
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // Unbuffered, so that its log lines arrive as they are written.
        info.Environment["PYTHONUNBUFFERED"] = "1";
        return info;
    }

    private static string PythonString(string text) => "'" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(Bound);
        }

        _process.Dispose();
    }
}
