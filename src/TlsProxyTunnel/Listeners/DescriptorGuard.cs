namespace TlsProxyTunnel.Listeners;

/// <summary>
/// Keeps the process clear of its descriptor limit. The .NET runtime itself needs descriptors (a new thread pool
/// thread opens a pipe; assemblies load lazily), and when it gets EMFILE it aborts the whole process with
/// "Out of memory.". So connections are admitted only while, counting two sockets each, a reserve stays free
/// under the soft RLIMIT_NOFILE (re-read once a second off the accept path, so a limit changed at run time, e.g.
/// with prlimit, counts; a change is reported through the callback).
/// If the process reaches its limit anyway (descriptors used elsewhere, a limit lowered at run time), accept(2)
/// fails with EMFILE: the accept loop then frees a few spare descriptors held for exactly that moment, so the
/// runtime can still start threads and log, and accepts again only once it could take the spares back.
/// </summary>
internal sealed class DescriptorGuard : IDescriptorBudget, IDisposable
{
    /// <summary>Descriptors left for the runtime, DNS sockets, health and metrics requests.</summary>
    internal const int Reserve = 64;

    /// <summary>Spare descriptors held while all is well and given up when the process runs out.</summary>
    internal const int Spares = 16;

    private readonly Lock _sparesLock = new();
    private readonly List<Microsoft.Win32.SafeHandles.SafeFileHandle> _spares = [];
    private readonly int _baseline;
    private readonly Action<long, long> _limitChanged;
    private readonly Timer _refresh;
    private long _limit;

    /// <param name="limitChanged">Told (old, new) when the soft limit changes while running.</param>
    public DescriptorGuard(Action<long, long> limitChanged)
    {
        _limitChanged = limitChanged;
        _baseline = CountOpen() ?? 64;
        _limit = SoftLimit() ?? long.MaxValue; // no /proc: no guard
        LimitPipes(_limit);
        TryTakeSpares();
        _refresh = new Timer(static s => ((DescriptorGuard)s!).RefreshLimit(), this, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public long Limit => Volatile.Read(ref _limit);

    public void Dispose()
    {
        _refresh.Dispose();
        ReleaseSpares();
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

    /// <summary>
    /// True when one more connection (client and upstream socket) still leaves the reserve free, counting the pipes
    /// the Linux engine's relays hold (two descriptors each).
    /// </summary>
    public bool HasRoom(int liveConnections) => _baseline + Reserve + ((liveConnections + 1) * 2L) + (Engine.Linux.SplicePipe.Open * 2) <= Limit;

    private void RefreshLimit()
    {
        // Unreadable while the process is out of descriptors: keep the last known limit, not "no limit".
        if (SoftLimit() is not { } now)
        {
            return;
        }

        var before = Interlocked.Exchange(ref _limit, now);
        if (before != now)
        {
            LimitPipes(now);
            _limitChanged(before, now);
        }
    }

    /// <summary>The Linux engine's splice pipes (two descriptors each) may take a quarter of the limit at most.</summary>
    private static void LimitPipes(long limit) => Engine.Linux.SplicePipe.MaxOpen = limit == long.MaxValue ? 1024 : limit / 8;

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

    /// <summary>
    /// The soft limit from /proc/self/limits ("Max open files  SOFT  HARD  files"); "unlimited" is long.MaxValue.
    /// Null when the file cannot be read: not Linux, or no descriptor free to open it.
    /// </summary>
    internal static long? SoftLimit()
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
            return null;
        }

        return null;
    }
}
