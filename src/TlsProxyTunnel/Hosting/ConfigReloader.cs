using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Hosting;

/// <summary>
/// Reloads the configuration on SIGHUP and, with --watch, when the file changes (the Kubernetes ConfigMap
/// symlink swap included). Parse and validate first; an invalid file changes nothing.
/// A SIGHUP is an operator saying "the file is ready": it loads at once and reports errors at once. A file event
/// only says "someone is writing", so --watch waits for the file to settle (<see cref="WatchSettler"/>), treats a
/// file that does not load as not written yet for a grace period, and waits longer before a change that removes
/// servers or listeners, which a half-written file looks like.
/// </summary>
internal sealed partial class ConfigReloader(
    ReloadOptions options,
    ListenerService listeners,
    RuntimeSnapshotBuilder builder,
    ProxyMetrics metrics,
    ILogger<ConfigReloader> logger,
    TimeProvider? time = null,
    Datagrams.UdpListenerService? datagrams = null) : IHostedService, IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _watchLock = new();

    // The --watch clock: the settle timer and the settler's quiet periods (a fake one in tests).
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly WatchSettler _settler = new(time ?? TimeProvider.System, options.Timing);
    private PosixSignalRegistration? _sighup;
    private readonly Dictionary<string, FileSystemWatcher> _watchers = new(StringComparer.Ordinal);
    private ITimer? _debounce;
    private byte[]? _loadedHash;

    /// <summary>
    /// The configuration file and the certificate, key and CA files the running configuration was built from: a
    /// renewed certificate (cert-manager writing its Secret, certbot) reloads with --watch as an edit of the file does.
    /// </summary>
    private volatile IReadOnlyList<string> _watchedFiles = [];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _watchedFiles = WatchedFiles(listeners.Current.Config);
        _loadedHash = HashOf(_watchedFiles);
        _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            // SIGHUP's default action ends the process; here it means reload.
            context.Cancel = true;
            _ = ReloadNowAsync("SIGHUP");
        });

        if (options.Watch)
        {
            _debounce = _time.CreateTimer(_ => _ = ObservedAsync("file change", OnQuietAsync), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            WatchDirectories();
            LogWatching(logger, Path.GetFullPath(options.ConfigPath), _watchedFiles.Count - 1);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _sighup?.Dispose();
        lock (_watchLock)
        {
            foreach (var watcher in _watchers.Values)
            {
                watcher.Dispose();
            }

            _watchers.Clear();
        }

        _debounce?.Dispose();
    }

    /// <summary>A file-system event in a watched directory (internal so tests can raise one without inotify).</summary>
    internal void OnFileEvent()
    {
        lock (_watchLock)
        {
            _settler.Changed(FileStamp.Of(_watchedFiles));
            _debounce?.Change(options.Timing.Settle, Timeout.InfiniteTimeSpan);
        }
    }

    private void WaitMore(TimeSpan wait)
    {
        lock (_watchLock)
        {
            _debounce?.Change(wait, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>The settle timer fired: load if the file is quiet, else wait for the rest of the settle period.</summary>
    private async Task OnQuietAsync()
    {
        TimeSpan? wait;
        lock (_watchLock)
        {
            wait = _settler.WaitBeforeLoading(FileStamp.Of(_watchedFiles));
        }

        if (wait is { } more)
        {
            WaitMore(more);
            return;
        }

        await ReloadAsync("file change", force: false, watch: true);
    }

    /// <summary>What --watch still waits for, or null to go ahead; checked under the watch lock.</summary>
    private TimeSpan? WatchWait(Func<WatchSettler, TimeSpan?> check)
    {
        lock (_watchLock)
        {
            // A write that landed while the file was being read restarts the settle period; what was read may be half of it.
            return _settler.WaitBeforeLoading(FileStamp.Of(_watchedFiles)) ?? check(_settler);
        }
    }

    /// <summary>What SIGHUP does: load and apply the file now. Never faults.</summary>
    internal Task ReloadNowAsync(string trigger) => ObservedAsync(trigger, () => ReloadAsync(trigger, force: true, watch: false));

    /// <summary>
    /// Runs a reload started from a signal or timer callback, which nobody awaits: an exception would otherwise
    /// vanish with the task. It is logged by type and stack only; its message may quote a value from the file or
    /// the environment.
    /// </summary>
    private async Task ObservedAsync(string trigger, Func<Task> reload)
    {
        try
        {
            await reload();
        }
#pragma warning disable CA1031 // Nothing above this catch would see the exception; the last good generation keeps running.
        catch (Exception e)
#pragma warning restore CA1031
        {
            metrics.OnReload(false);
            LogReloadCrashed(logger, trigger, e.GetType().FullName ?? e.GetType().Name, listeners.Current.Generation, e.StackTrace ?? "");
        }
    }

    /// <summary>
    /// Loads, validates and applies the file; returns whether a new generation is in use. With
    /// <paramref name="watch"/>, a file that may still be being written is left for a later look instead.
    /// </summary>
    private async Task<bool> ReloadAsync(string trigger, bool force, bool watch)
    {
        await _gate.WaitAsync();
        try
        {
            // A SIGHUP during the drain (a terminal hanging up with the process, a reload racing a rollout) changes
            // nothing and is no failure: counting it would fire the reload-failed alert on every shutdown.
            if (listeners.IsStopping)
            {
                LogReloadIgnored(logger, trigger);
                return false;
            }

            var hash = HashOf(_watchedFiles);
            if (!force && hash is not null && _loadedHash is not null && hash.AsSpan().SequenceEqual(_loadedHash))
            {
                // Touched but not changed (or a sibling file changed): nothing to do.
                return false;
            }

            var loaded = ConfigLoader.Load(options.ConfigPath, options.Environment);
            if (watch && (loaded.Config is null ? WatchWait(s => s.WaitBeforeReportingErrors()) : WatchWait(_ => null)) is { } notYet)
            {
                // Probably still being written: say nothing about it yet and look again once it has been quiet longer.
                LogNotYet(logger, options.ConfigPath, loaded.Config is null ? "does not load yet" : "changed while read", (long)notYet.TotalMilliseconds);
                WaitMore(notYet);
                return false;
            }

            var previous = listeners.Current;
            if (watch && loaded.Config is { } candidate && Removes(previous.Config, candidate) && WatchWait(s => s.WaitBeforeRemoving()) is { } removalWait)
            {
                LogNotYet(logger, options.ConfigPath, "removes servers or listeners", (long)removalWait.TotalMilliseconds);
                WaitMore(removalWait);
                return false;
            }

            LogReloading(logger, trigger, options.ConfigPath);
            foreach (var diagnostic in loaded.Diagnostics)
            {
                if (diagnostic.Severity == DiagnosticSeverity.Error)
                {
                    LogReloadError(logger, diagnostic.ToString());
                }
                else
                {
                    Log.ConfigWarning(logger, diagnostic.ToString());
                }
            }

            if (loaded.Config is not { } config)
            {
                metrics.OnReload(false);
                LogReloadRejected(logger, loaded.ErrorCount, listeners.Current.Generation);
                return false;
            }

            var next = builder.Build(config, previous);
            var result = await listeners.ApplyAsync(next);
            if (!result.Applied && listeners.IsStopping)
            {
                LogReloadIgnored(logger, trigger);
                return false;
            }

            if (!result.Applied)
            {
                metrics.OnReload(false);
                LogReloadFailed(logger, result.Error ?? "unknown error", previous.Generation);
                return false;
            }

            // The UDP servers follow; one that cannot be bound leaves its old listener (if any) gone and says so.
            if (datagrams is not null && await datagrams.ApplyAsync(next) is { } datagramError)
            {
                metrics.OnReload(false);
                LogReloadFailed(logger, datagramError, previous.Generation);
                return false;
            }

            // The new configuration may name other certificate files: watch those from now on.
            _watchedFiles = WatchedFiles(config);
            _loadedHash = HashOf(_watchedFiles);
            if (options.Watch)
            {
                WatchDirectories();
            }

            metrics.OnReload(true);
            var oldServers = previous.Servers.Keys.ToHashSet(StringComparer.Ordinal);
            var newServers = next.Servers.Keys.ToHashSet(StringComparer.Ordinal);
            LogReloaded(
                logger,
                next.Generation,
                Describe(newServers.Except(oldServers)),
                Describe(oldServers.Except(newServers)),
                Describe(result.Added),
                Describe(result.Removed));
            ReverseRelay.RelayReloadCheck.Warn(logger, previous.Config, config);
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Whether applying <paramref name="next"/> would close a listener or drop a server.</summary>
    private static bool Removes(ProxyConfig current, ProxyConfig next)
    {
        var kept = next.Servers.ToDictionary(s => s.Name, s => s.Listen.Select(l => l.Text).ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);
        return current.Servers.Any(s => !kept.TryGetValue(s.Name, out var listen) || s.Listen.Any(l => !listen.Contains(l.Text)));
    }

    private static string Describe(IEnumerable<string> items)
    {
        var list = items.Order(StringComparer.Ordinal).ToList();
        return list.Count == 0 ? "none" : string.Join(", ", list);
    }

    private IReadOnlyList<string> WatchedFiles(ProxyConfig config) =>
        [Path.GetFullPath(options.ConfigPath), .. config.CertificateFiles.Where(f => !string.Equals(f, Path.GetFullPath(options.ConfigPath), StringComparison.Ordinal)).Distinct(StringComparer.Ordinal)];

    /// <summary>
    /// One watcher per directory of a watched file, kept in step with <see cref="_watchedFiles"/>. Directories, not
    /// files: a ConfigMap or Secret update swaps a symlink beside the file and never writes the file itself.
    /// </summary>
    private void WatchDirectories()
    {
        lock (_watchLock)
        {
            var wanted = _watchedFiles.Select(f => Path.GetDirectoryName(f)!).ToHashSet(StringComparer.Ordinal);
            foreach (var gone in _watchers.Keys.Where(d => !wanted.Contains(d)).ToList())
            {
                _watchers[gone].Dispose();
                _watchers.Remove(gone);
            }

            foreach (var directory in wanted.Where(d => !_watchers.ContainsKey(d)))
            {
                try
                {
                    var watcher = new FileSystemWatcher(directory)
                    {
                        IncludeSubdirectories = false,
                        NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
                    };
                    FileSystemEventHandler changed = (_, _) => OnFileEvent();
                    watcher.Changed += changed;
                    watcher.Created += changed;
                    watcher.Deleted += changed;
                    watcher.Renamed += (_, _) => OnFileEvent();
                    watcher.EnableRaisingEvents = true;
                    _watchers[directory] = watcher;
                }
                catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
                {
                    // The file loaded a moment ago, so this is rare (a directory gone since); SIGHUP still reloads.
                    LogCannotWatch(logger, directory, e.GetType().Name);
                }
            }
        }
    }

    /// <summary>The files' contents hashed in order; null when one cannot be read (then a reload always proceeds).</summary>
    private static byte[]? HashOf(IReadOnlyList<string> paths)
    {
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            foreach (var path in paths)
            {
                hash.AppendData(File.ReadAllBytes(path));
                hash.AppendData(BitConverter.GetBytes(path.Length));
            }

            return hash.GetHashAndReset();
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    [LoggerMessage(EventId = 30, Level = LogLevel.Information, Message = "Watching {Path} and {CertificateFiles} certificate file(s) it names for changes")]
    private static partial void LogWatching(ILogger logger, string path, int certificateFiles);

    [LoggerMessage(EventId = 41, Level = LogLevel.Warning, Message = "Cannot watch {Directory} for changes ({Error}); SIGHUP still reloads")]
    private static partial void LogCannotWatch(ILogger logger, string directory, string error);

    [LoggerMessage(EventId = 39, Level = LogLevel.Debug, Message = "{Path} changed but {Reason}; looking again in {DelayMs} ms")]
    private static partial void LogNotYet(ILogger logger, string path, string reason, long delayMs);

    [LoggerMessage(EventId = 31, Level = LogLevel.Information, Message = "Reloading configuration {Path} ({Trigger})")]
    private static partial void LogReloading(ILogger logger, string trigger, string path);

    [LoggerMessage(EventId = 32, Level = LogLevel.Error, Message = "Reload: {Diagnostic}")]
    private static partial void LogReloadError(ILogger logger, string diagnostic);

    [LoggerMessage(EventId = 33, Level = LogLevel.Error, Message = "Reload rejected: {Count} error(s); still running generation {Generation}")]
    private static partial void LogReloadRejected(ILogger logger, int count, long generation);

    [LoggerMessage(EventId = 38, Level = LogLevel.Error, Message = "Reload ({Trigger}) failed unexpectedly: {ExceptionType}; still running generation {Generation}\n{StackTrace}")]
    private static partial void LogReloadCrashed(ILogger logger, string trigger, string exceptionType, long generation, string stackTrace);

    [LoggerMessage(EventId = 40, Level = LogLevel.Information, Message = "Reload ({Trigger}) ignored: shutting down")]
    private static partial void LogReloadIgnored(ILogger logger, string trigger);

    [LoggerMessage(EventId = 34, Level = LogLevel.Error, Message = "Reload failed: {Error}; still running generation {Generation}")]
    private static partial void LogReloadFailed(ILogger logger, string error, long generation);

    [LoggerMessage(EventId = 35, Level = LogLevel.Information,
        Message = "Reloaded: generation {Generation}; servers added: {ServersAdded}; servers removed: {ServersRemoved}; listeners added: {ListenersAdded}; listeners removed: {ListenersRemoved}")]
    private static partial void LogReloaded(ILogger logger, long generation, string serversAdded, string serversRemoved, string listenersAdded, string listenersRemoved);
}
