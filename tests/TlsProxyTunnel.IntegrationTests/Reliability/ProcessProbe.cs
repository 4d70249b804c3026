using System.Runtime.InteropServices;

namespace TlsProxyTunnel.IntegrationTests.Reliability;

/// <summary>Reads and limits another process's resources through /proc and prlimit(2).</summary>
public static partial class ProcessProbe
{
    private const int RlimitNofile = 7;

    /// <summary>Resident memory in KiB (VmRSS).</summary>
    public static long RssKib(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException("no VmRSS");
    }

    /// <summary>All open descriptors of the process.</summary>
    public static int OpenFileCount(int pid) => Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Count();

    /// <summary>Sets the soft RLIMIT_NOFILE of a running process, keeping its hard limit.</summary>
    public static void SetSoftFileLimit(int pid, long soft)
    {
        var old = new RLimit();
        if (Prlimit(pid, RlimitNofile, IntPtr.Zero, ref old) != 0)
        {
            throw new InvalidOperationException($"prlimit read failed: {Marshal.GetLastPInvokeError()}");
        }

        var limit = new RLimit { Current = (ulong)soft, Maximum = old.Maximum };
        if (PrlimitSet(pid, RlimitNofile, ref limit, IntPtr.Zero) != 0)
        {
            throw new InvalidOperationException($"prlimit set failed: {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>The soft RLIMIT_NOFILE of a process.</summary>
    public static long SoftFileLimit(int pid)
    {
        var old = new RLimit();
        return Prlimit(pid, RlimitNofile, IntPtr.Zero, ref old) == 0 ? (long)old.Current : -1;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", EntryPoint = "prlimit", SetLastError = true)]
    private static partial int Prlimit(int pid, int resource, IntPtr newLimit, ref RLimit oldLimit);

    [LibraryImport("libc", EntryPoint = "prlimit", SetLastError = true)]
    private static partial int PrlimitSet(int pid, int resource, ref RLimit newLimit, IntPtr oldLimit);
}
