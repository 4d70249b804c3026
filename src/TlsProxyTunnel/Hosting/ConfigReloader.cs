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
/// </summary>
internal sealed partial class ConfigReloader(
    ReloadOptions options,
    ListenerService listeners,
    RuntimeSnapshotBuilder builder,
    ProxyMetrics metrics,
    ILogger<ConfigReloader> logger) : IHostedService, IDisposable
{
    // Editors and the ConfigMap swap write in several steps; act once they settle.
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(200);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private PosixSignalRegistration? _sighup;
    private FileSystemWatcher? _watcher;
    private Timer? _debounce;
    private byte[]? _loadedHash;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loadedHash = HashOf(options.ConfigPath);
        _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            // SIGHUP's default action ends the process; here it means reload.
            context.Cancel = true;
            _ = ReloadAsync("SIGHUP", force: true);
        });

        if (options.Watch)
        {
            var full = Path.GetFullPath(options.ConfigPath);
            _debounce = new Timer(_ => _ = ReloadAsync("file change", force: false));

            // Watch the directory, not the file: a ConfigMap update swaps a symlink beside it and never writes the file.
            _watcher = new FileSystemWatcher(Path.GetDirectoryName(full)!)
            {
                IncludeSubdirectories = false,
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            FileSystemEventHandler changed = (_, _) => _debounce.Change(Settle, Timeout.InfiniteTimeSpan);
            _watcher.Changed += changed;
            _watcher.Created += changed;
            _watcher.Deleted += changed;
            _watcher.Renamed += (_, _) => _debounce.Change(Settle, Timeout.InfiniteTimeSpan);
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

    /// <summary>Loads, validates and applies the file; returns whether a new generation is in use.</summary>
    public async Task<bool> ReloadAsync(string trigger, bool force)
    {
        await _gate.WaitAsync();
        try
        {
            var hash = HashOf(options.ConfigPath);
            if (!force && hash is not null && _loadedHash is not null && hash.AsSpan().SequenceEqual(_loadedHash))
            {
                // Touched but not changed (or a sibling file changed): nothing to do.
                return false;
            }

            LogReloading(logger, trigger, options.ConfigPath);
            var loaded = ConfigLoader.Load(options.ConfigPath, options.Environment);
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
                LogReloadRejected(logger, loaded.Errors.Count(), listeners.Current.Generation);
                return false;
            }

            var previous = listeners.Current;
            var next = builder.Build(config, previous.Generation + 1);
            var result = await listeners.ApplyAsync(next);
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

    [LoggerMessage(EventId = 31, Level = LogLevel.Information, Message = "Reloading configuration {Path} ({Trigger})")]
    private static partial void LogReloading(ILogger logger, string trigger, string path);

    [LoggerMessage(EventId = 32, Level = LogLevel.Error, Message = "Reload: {Diagnostic}")]
    private static partial void LogReloadError(ILogger logger, string diagnostic);

    [LoggerMessage(EventId = 33, Level = LogLevel.Error, Message = "Reload rejected: {Count} error(s); still running generation {Generation}")]
    private static partial void LogReloadRejected(ILogger logger, int count, long generation);

    [LoggerMessage(EventId = 34, Level = LogLevel.Error, Message = "Reload failed: {Error}; still running generation {Generation}")]
    private static partial void LogReloadFailed(ILogger logger, string error, long generation);

    [LoggerMessage(EventId = 35, Level = LogLevel.Information,
        Message = "Reloaded: generation {Generation}; servers added: {ServersAdded}; servers removed: {ServersRemoved}; listeners added: {ListenersAdded}; listeners removed: {ListenersRemoved}")]
    private static partial void LogReloaded(ILogger logger, long generation, string serversAdded, string serversRemoved, string listenersAdded, string listenersRemoved);
}
