using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Moq;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Hosting;
using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Tests.Configuration;
using TlsProxyTunnel.Tests.Infrastructure;
using TlsProxyTunnel.Upstreams.Health;

namespace TlsProxyTunnel.Tests.Hosting;

/// <summary>
/// The reloader in process, on a real file, with a listener service that is never started (so nothing binds):
/// what a reload that fails or throws leaves behind and says.
/// </summary>
public sealed class ConfigReloaderTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private const string Running = "version: 2\nservers:\n  web:\n    listen: [\"127.0.0.1:1\"]\n    default: echo\n";

    private readonly string _path = Path.Combine(Path.GetTempPath(), $"tpt-reloader-{Guid.NewGuid():N}.yaml");
    private readonly RecordingLogger<ConfigReloader> _log = new();
    private readonly ProxyMetrics _metrics = new();

    public void Dispose() => File.Delete(_path);

    private ConfigReloader NewReloader(Func<string, string?> environment) => NewReloader(new ReloadOptions(_path, environment, Watch: false));

    private ConfigReloader NewReloader(ReloadOptions options, TimeProvider? time = null)
    {
        var builder = new RuntimeSnapshotBuilder(_metrics, new ReadinessState(), Mock.Of<TlsProxyTunnel.Dns.IHostResolver>(), NullLoggerFactory.Instance);
        var tracker = new ConnectionTracker();
        var listeners = new ListenerService(
            builder.Build(ConfigTestHelpers.LoadOk(Running), previous: null),
            tracker,
            new ConnectionHandler(tracker, NullLogger.Instance),
            _metrics,
            new ReadinessState(),
            new ShutdownSignals(Mock.Of<IHostApplicationLifetime>(), NullLogger<ShutdownSignals>.Instance),
            NullLogger<ListenerService>.Instance);
        return new ConfigReloader(options, listeners, builder, _metrics, _log, time);
    }

    [Fact]
    public async Task A_reload_that_throws_is_logged_without_the_exception_message_and_the_next_reload_still_runs()
    {
        // An environment lookup that throws stands for any bug below the reload; its message stands for a secret.
        File.WriteAllText(_path, "version: 2\nservers:\n  web:\n    listen: [\"${BOOM}\"]\n    default: echo\n");
        using var reloader = NewReloader(name => name == "BOOM" ? throw new NotSupportedException("s3cret-in-message") : null);

        await reloader.ReloadNowAsync("SIGHUP").WaitAsync(Timeout);

        var error = Assert.Single(_log.Lines, l => l.Level == LogLevel.Error);
        Assert.Contains("Reload (SIGHUP) failed unexpectedly: System.NotSupportedException", error.Message, StringComparison.Ordinal);
        Assert.Contains("still running generation 1", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", _log.Text, StringComparison.Ordinal);

        // The reload gate was released: the next reload runs and reports the file's own error.
        File.WriteAllText(_path, "version: 2\nservers: []\n");
        await reloader.ReloadNowAsync("SIGHUP").WaitAsync(Timeout);
        Assert.Contains(_log.Lines, l => l.Message.StartsWith("Reload rejected: 1 error(s)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_rejected_reload_counts_every_error_not_only_the_ones_shown()
    {
        // 150 servers with an unknown key each: 150 errors, of which at most 100 are listed.
        var servers = string.Concat(Enumerable.Range(0, 150).Select(i => $"  s{i}:\n    listen: [\"127.0.0.1:{2000 + i}\"]\n    bogus_{i}: 1\n"));
        File.WriteAllText(_path, "version: 2\nservers:\n" + servers);
        using var reloader = NewReloader(_ => null);

        await reloader.ReloadNowAsync("SIGHUP").WaitAsync(Timeout);

        Assert.Contains(_log.Lines, l => l.Message == "Reload rejected: 150 error(s); still running generation 1");
        Assert.InRange(_log.Lines.Count(l => l.Message.StartsWith("Reload: ", StringComparison.Ordinal)), 100, 101);
    }

    [Fact]
    public async Task With_watch_a_change_reloads_on_the_watch_clock_and_an_exception_in_that_timer_started_reload_is_logged_not_lost()
    {
        // The watched path is a symlink into another directory (as a ConfigMap mounts it): writing the target raises
        // no event where the reloader watches, so the only events are the ones this test raises, and the only clock
        // is the fake one.
        var directory = Directory.CreateTempSubdirectory("tpt-watch-");
        var target = Directory.CreateTempSubdirectory("tpt-watch-target-");
        try
        {
            var real = Path.Combine(target.FullName, "tpt.yaml");
            File.WriteAllText(real, Running);
            var link = Path.Combine(directory.FullName, "tpt.yaml");
            File.CreateSymbolicLink(link, real);
            var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
            var timing = WatchTiming.Default;
            var options = new ReloadOptions(link, name => name == "BOOM" ? throw new NotSupportedException("s3cret-in-message") : null, Watch: true);
            using var reloader = NewReloader(options, time);
            await reloader.StartAsync(CancellationToken.None);

            File.WriteAllText(real, "version: 2\nservers:\n  web:\n    listen: [\"${BOOM}\"]\n    default: echo\n");
            reloader.OnFileEvent();

            // Nothing before the file has been quiet for the settle period; the timer's reload runs inside Advance.
            time.Advance(timing.Settle - TimeSpan.FromMilliseconds(1));
            Assert.DoesNotContain(_log.Lines, l => l.Level == LogLevel.Error);
            time.Advance(TimeSpan.FromMilliseconds(1));
            var crashed = await _log.WaitForAsync(l => l.StartsWith("Reload (file change) failed unexpectedly: System.NotSupportedException", StringComparison.Ordinal));
            Assert.Contains("still running generation 1", crashed, StringComparison.Ordinal);
            Assert.DoesNotContain("s3cret", _log.Text, StringComparison.Ordinal);

            // The watch goes on: a file that does not load is not reported until it has been quiet for the error grace.
            File.WriteAllText(real, "version: 2\nservers: []\n");
            reloader.OnFileEvent();
            time.Advance(timing.Settle);
            var waiting = await _log.WaitForAsync(l => l.Contains("changed but does not load yet", StringComparison.Ordinal));
            Assert.EndsWith($"looking again in {(timing.ErrorGrace - timing.Settle).TotalMilliseconds:0} ms", waiting, StringComparison.Ordinal);
            Assert.DoesNotContain(_log.Lines, l => l.Message.StartsWith("Reload rejected", StringComparison.Ordinal));
            time.Advance(timing.ErrorGrace - timing.Settle);
            await _log.WaitForAsync(l => l == "Reload rejected: 1 error(s); still running generation 1");
            Assert.Equal(2, _metrics.ReloadsFailed);
        }
        finally
        {
            directory.Delete(recursive: true);
            target.Delete(recursive: true);
        }
    }
}
