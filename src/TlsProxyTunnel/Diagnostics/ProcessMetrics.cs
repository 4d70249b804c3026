using TlsProxyTunnel.Listeners;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>The process's resident memory, descriptor count and limit, and the memory trimmer's collections.</summary>
internal sealed class ProcessMetrics(MemoryTrimmer trimmer) : IMetricSource
{
    public void Declare(MetricRegistry registry)
    {
        registry.Counter("tpt_memory_trims_total", "Collections that returned memory to the OS after load fell", sink => sink.Add(trimmer.Trims));
        registry.Gauge("process_resident_memory_bytes", "Resident memory size in bytes", sink => sink.Add(Environment.WorkingSet));
        // As of the last collection: what live objects take, and what the GC holds from the OS for them.
        registry.Gauge("dotnet_gc_heap_size_bytes", "Managed heap size after the last garbage collection, in bytes", sink => sink.Add(GC.GetGCMemoryInfo().HeapSizeBytes));
        registry.Gauge("dotnet_gc_committed_bytes", "Memory the garbage collector has committed, in bytes", sink => sink.Add(GC.GetGCMemoryInfo().TotalCommittedBytes));
        registry.Counter("dotnet_gc_allocated_bytes_total", "Bytes allocated on the managed heap since start", sink => sink.Add(GC.GetTotalAllocatedBytes(precise: false)));
        registry.Gauge("process_open_fds", "Number of open file descriptors", sink =>
        {
            if (DescriptorGuard.CountOpen() is { } open)
            {
                sink.Add(open);
            }
        });

        // The soft limit, read afresh like DescriptorGuard does, so an alert on open/max sees a limit raised at
        // run time. Where /proc cannot tell, or there is no limit, no sample rather than a made-up one.
        registry.Gauge("process_max_fds", "Maximum number of open file descriptors (the soft RLIMIT_NOFILE)", sink =>
        {
            if (DescriptorGuard.SoftLimit() is { } max and < long.MaxValue)
            {
                sink.Add(max);
            }
        });
    }
}
