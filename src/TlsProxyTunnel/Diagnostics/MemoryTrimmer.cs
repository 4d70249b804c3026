using System.Runtime;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Listeners;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>
/// Gives memory back to the OS after a load peak. The GC only runs when something allocates, so once a burst
/// of connections has ended an idle proxy would keep its peak heap (and the pooled buffers) resident for good,
/// which a sidecar with a memory limit pays for. When <see cref="MemoryTrimPolicy"/> sees load gone, one
/// aggressive collection decommits the free heap and lets the array pool drop its buffers.
/// Also publishes the process's resident memory, descriptor count and descriptor limit in /metrics.
/// </summary>
internal sealed class MemoryTrimmer : BackgroundService
{
    internal static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(5);

    private readonly MemoryTrimPolicy _policy = new();
    private readonly ConnectionTracker _tracker;
    private readonly TimeProvider _time;
    private readonly ILogger<MemoryTrimmer> _logger;
    private long _trims;

    public MemoryTrimmer(ConnectionTracker tracker, ProxyMetrics metrics, TimeProvider time, ILogger<MemoryTrimmer> logger)
    {
        _tracker = tracker;
        _time = time;
        _logger = logger;

        // Here, before any listener can serve /metrics: Render reads the list without a lock.
        metrics.Collectors.Add(Write);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(SampleInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var live = _tracker.Count;
                if (_policy.Observe(live))
                {
                    Trim(live);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Shutting down.
        }
    }

    private void Trim(int live)
    {
        var before = Environment.WorkingSet;
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Interlocked.Increment(ref _trims);
        Log.MemoryTrimmed(_logger, live, before >> 20, Environment.WorkingSet >> 20);
    }

    private void Write(PrometheusTextWriter w)
    {
        w.Family("tpt_memory_trims_total", "counter", "Collections that returned memory to the OS after load fell");
        w.Sample("tpt_memory_trims_total", Interlocked.Read(ref _trims));
        w.Family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes");
        w.Sample("process_resident_memory_bytes", Environment.WorkingSet);
        if (DescriptorGuard.CountOpen() is { } open)
        {
            w.Family("process_open_fds", "gauge", "Number of open file descriptors");
            w.Sample("process_open_fds", open);
        }

        // The soft limit, read afresh like DescriptorGuard does, so an alert on open/max sees a limit raised at
        // run time. Where /proc cannot tell, or there is no limit, no sample rather than a made-up one.
        if (DescriptorGuard.SoftLimit() is { } max and < long.MaxValue)
        {
            w.Family("process_max_fds", "gauge", "Maximum number of open file descriptors (the soft RLIMIT_NOFILE)");
            w.Sample("process_max_fds", max);
        }
    }
}
