using System.Runtime;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Connections;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>
/// Gives memory back to the OS after a load peak. The GC only runs when something allocates, so once a burst
/// of connections has ended an idle proxy would keep its peak heap (and the pooled buffers) resident for good,
/// which a sidecar with a memory limit pays for. When <see cref="MemoryTrimPolicy"/> sees load gone, one
/// aggressive collection decommits the free heap and lets the array pool drop its buffers.
/// <see cref="ProcessMetrics"/> publishes how often it did.
/// </summary>
internal sealed class MemoryTrimmer : BackgroundService
{
    internal static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(5);

    private readonly MemoryTrimPolicy _policy = new();
    private readonly ConnectionTracker _tracker;
    private readonly TimeProvider _time;
    private readonly ILogger<MemoryTrimmer> _logger;
    private long _trims;

    public MemoryTrimmer(ConnectionTracker tracker, TimeProvider time, ILogger<MemoryTrimmer> logger)
    {
        _tracker = tracker;
        _time = time;
        _logger = logger;
    }

    /// <summary>Collections that returned memory since start.</summary>
    public long Trims => Interlocked.Read(ref _trims);

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
}
