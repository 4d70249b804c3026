namespace TlsProxyTunnel.Hosting;

/// <summary>
/// Decides when a watched configuration file has stopped changing long enough to act on. It owns no timer: the
/// reloader asks it at each step and re-arms its own timer for the time it returns (null means go ahead).
/// Not thread-safe; the reloader serialises calls.
/// </summary>
internal sealed class WatchSettler(TimeProvider time, WatchTiming timing)
{
    private long _lastChange = time.GetTimestamp();
    private FileStamp _stamp = FileStamp.Missing;

    /// <summary>A file-system event, or a stamp that differs from the last one seen.</summary>
    public void Changed(FileStamp stamp)
    {
        _lastChange = time.GetTimestamp();
        _stamp = stamp;
    }

    /// <summary>
    /// Null when the file is quiet: no event for the settle period and the stamp unchanged since the last event
    /// (a write that raised no event, e.g. through another mount, still restarts the wait).
    /// </summary>
    public TimeSpan? WaitBeforeLoading(FileStamp current)
    {
        if (current != _stamp)
        {
            Changed(current);
            return timing.Settle;
        }

        return Remaining(timing.Settle);
    }

    /// <summary>Null once a file that fails to load has been quiet for the error grace: report it then.</summary>
    public TimeSpan? WaitBeforeReportingErrors() => Remaining(timing.ErrorGrace);

    /// <summary>Null once the file has been quiet long enough to remove servers or listeners on its word.</summary>
    public TimeSpan? WaitBeforeRemoving() => Remaining(timing.RemovalSettle);

    private TimeSpan? Remaining(TimeSpan needed)
    {
        var quiet = time.GetElapsedTime(_lastChange);
        return quiet >= needed ? null : needed - quiet;
    }
}
