using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>
/// A private network namespace (its own loopback and netfilter tables) held open by a sleeping <c>unshare --net</c>
/// process: commands run in it through <c>nsenter</c>, and the test's own sockets are created in it with setns(2)
/// on a short-lived thread (a namespace is per thread, and a socket keeps the one it was created in). Needs root.
/// </summary>
public sealed partial class NetworkNamespace : IAsyncDisposable
{
    private const int CloneNewNet = 0x40000000;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly Process _holder;

    private NetworkNamespace(Process holder)
    {
        _holder = holder;
    }

    /// <summary>Why these tests cannot run here, or null when they can.</summary>
    public static string? Unavailable =>
        !OperatingSystem.IsLinux() ? "network namespaces are Linux only"
        : !Environment.IsPrivilegedProcess ? "needs root (unshare --net, iptables); CI runs as root"
        : null;

    /// <summary>The namespace's handle for nsenter and setns.</summary>
    public string Path => $"/proc/{_holder.Id}/ns/net";

    /// <summary>Prefix that runs a command inside the namespace.</summary>
    public IReadOnlyList<string> Launcher => ["nsenter", $"--net={Path}", "--"];

    public static async Task<NetworkNamespace> CreateAsync()
    {
        // unshare(2) happens before sh runs, so "ready" means the namespace exists; exec keeps the pid for /proc.
        var info = new ProcessStartInfo("unshare") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var word in (string[])["--net", "sh", "-c", "echo ready; exec sleep 3600"])
        {
            info.ArgumentList.Add(word);
        }

        var holder = Process.Start(info)!;
        var ns = new NetworkNamespace(holder);
        try
        {
            var line = await holder.StandardOutput.ReadLineAsync().WaitAsync(Bound);
            if (line != "ready")
            {
                throw new InvalidOperationException($"unshare --net did not start: {await holder.StandardError.ReadToEndAsync().WaitAsync(Bound)}");
            }

            await ns.RunAsync("ip", "link", "set", "lo", "up");
        }
        catch
        {
            await ns.DisposeAsync();
            throw;
        }

        return ns;
    }

    /// <summary>Runs a command in the namespace; fails the test with its output when it exits non-zero.</summary>
    public async Task<string> RunAsync(params string[] command)
    {
        var info = new ProcessStartInfo(Launcher[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var word in Launcher.Skip(1).Concat(command))
        {
            info.ArgumentList.Add(word);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(Bound);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"'{string.Join(' ', command)}' in the namespace exited {process.ExitCode}: {await stderr}");
        }

        return await stdout;
    }

    /// <summary>A TCP socket that lives in the namespace (bind and connect it as usual, from any thread).</summary>
    public Socket CreateSocket(AddressFamily family)
    {
        Socket? socket = null;
        var error = 0;
        var thread = new Thread(() =>
        {
            // This thread alone moves; it ends right after, so no pooled thread is left in the namespace.
            using var handle = File.OpenHandle(Path);
            if (SetNs((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
            {
                error = Marshal.GetLastPInvokeError();
                return;
            }

            socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
        });
        thread.Start();
        thread.Join();
        return socket ?? throw new InvalidOperationException($"setns into {Path} failed: errno {error}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_holder.HasExited)
        {
            _holder.Kill();
            await _holder.WaitForExitAsync().WaitAsync(Bound);
        }

        _holder.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nsType);
}
