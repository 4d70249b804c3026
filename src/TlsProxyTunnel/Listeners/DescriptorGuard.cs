namespace TlsProxyTunnel.Listeners;

/// <summary>
/// Keeps the process clear of its descriptor limit. The .NET runtime itself needs descriptors (a new thread pool
/// thread opens a pipe; assemblies load lazily), and when it gets EMFILE it aborts the whole process with
/// "Out of memory.". So connections are admitted only while, counting two sockets each, a reserve stays free
/// under the soft RLIMIT_NOFILE (read again at most once a second, so a limit changed at run time counts).
/// If the process reaches its limit anyway (descriptors used elsewhere, a limit lowered at run time), accept(2)
/// fails with EMFILE: the accept loop then frees a few spare descriptors held for exactly that moment, so the
/// runtime can still start threads and log, and accepts again only once it could take the spares back.
/// </summary>
internal sealed class DescriptorGuard
{
    /// <summary>Descriptors left for the runtime, DNS sockets, health and metrics requests.</summary>
    internal const int Reserve = 64;

    /// <summary>Spare descriptors held while all is well and given up when the process runs out.</summary>
    internal const int Spares = 16;

    private readonly Lock _sparesLock = new();
    private readonly List<Microsoft.Win32.SafeHandles.SafeFileHandle> _spares = [];
    private readonly int _baseline;
    private long _limit;
    private long _checkedAt;

    public DescriptorGuard()
    {
        _baseline = CountOpen() ?? 64;
        _limit = SoftLimit();
        _checkedAt = Environment.TickCount64;
        TryTakeSpares();
    }

    /// <summary>Called when accept(2) ran out of descriptors: give the spares back to the process at once.</summary>
    public void ReleaseSpares()
    {
        lock (_sparesLock)
        {
            foreach (var spare in _spares)
            {
                spare.Dispose();
            }

            _spares.Clear();
        }
    }

    /// <summary>True when all the spares are held (again); false means descriptors are still short: do not accept yet.</summary>
    public bool TryTakeSpares()
    {
        lock (_sparesLock)
        {
            try
            {
                while (_spares.Count < Spares)
                {
                    _spares.Add(File.OpenHandle("/dev/null"));
                }

                return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Too many open files (or no /dev/null): hand back what was taken.
            }
        }

        ReleaseSpares();
        return false;
    }

    /// <summary>True when one more connection (client and upstream socket) still leaves the reserve free.</summary>
    public bool HasRoom(int liveConnections)
    {
        var now = Environment.TickCount64;
        if (now - Volatile.Read(ref _checkedAt) >= 1000)
        {
            Volatile.Write(ref _limit, SoftLimit());
            Volatile.Write(ref _checkedAt, now);
        }

        return _baseline + Reserve + ((liveConnections + 1) * 2L) <= Volatile.Read(ref _limit);
    }

    /// <summary>Descriptors the process has open now, or null where /proc cannot tell.</summary>
    internal static int? CountOpen()
    {
        try
        {
            return Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The soft limit from /proc/self/limits ("Max open files  SOFT  HARD  files").</summary>
    private static long SoftLimit()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var soft = line["Max open files".Length..].TrimStart().Split(' ', 2)[0];
                    return long.TryParse(soft, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) ? value : long.MaxValue;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not Linux, or no /proc: no guard.
        }

        return long.MaxValue;
    }
}
