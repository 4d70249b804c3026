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
    ILogger<ConfigReloader> logger) : IHostedService, IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _watchLock = new();
    private readonly WatchSettler _settler = new(TimeProvider.System, options.Timing);
    private PosixSignalRegistration? _sighup;
    private FileSystemWatcher? _watcher;
    private ITimer? _debounce;
    private byte[]? _loadedHash;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loadedHash = HashOf(options.ConfigPath);
        _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            // SIGHUP's default action ends the process; here it means reload.
            context.Cancel = true;
            _ = ReloadNowAsync("SIGHUP");
        });

        if (options.Watch)
        {
            var full = Path.GetFullPath(options.ConfigPath);
            _debounce = TimeProvider.System.CreateTimer(_ => _ = ObservedAsync("file change", OnQuietAsync), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

            // Watch the directory, not the file: a ConfigMap update swaps a symlink beside it and never writes the file.
            _watcher = new FileSystemWatcher(Path.GetDirectoryName(full)!)
            {
                IncludeSubdirectories = false,
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            FileSystemEventHandler changed = (_, _) => OnFileEvent();
            _watcher.Changed += changed;
            _watcher.Created += changed;
            _watcher.Deleted += changed;
            _watcher.Renamed += (_, _) => OnFileEvent();
            _watcher.EnableRaisingEvents = true;
            LogWatching(logger, full);
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
        _watcher?.Dispose();
        _debounce?.Dispose();
    }

    private void OnFileEvent()
    {
        lock (_watchLock)
        {
            _settler.Changed(FileStamp.Of(options.ConfigPath));
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
            wait = _settler.WaitBeforeLoading(FileStamp.Of(options.ConfigPath));
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
            return _settler.WaitBeforeLoading(FileStamp.Of(options.ConfigPath)) ?? check(_settler);
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

            var hash = HashOf(options.ConfigPath);
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

            _loadedHash = hash;
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

    private static byte[]? HashOf(string path)
    {
        try
        {
            return SHA256.HashData(File.ReadAllBytes(path));
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

    [LoggerMessage(EventId = 30, Level = LogLevel.Information, Message = "Watching {Path} for changes")]
    private static partial void LogWatching(ILogger logger, string path);

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
