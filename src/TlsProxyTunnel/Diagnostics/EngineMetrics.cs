using TlsProxyTunnel.Engine;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>
/// <c>tpt_engine_info</c>: which engine each stream server of the generation in use runs on, so a dashboard can tell
/// the two apart (and join on <c>name</c> with the per-server counters). UDP servers always run on sockets and have
/// no series. Read from the generation in use, not from the build: a reload that is not applied changes nothing.
/// </summary>
/// <param name="current">The generation in use; looked up per collection, since the listeners are built after the metrics.</param>
internal sealed class EngineMetrics(Func<RuntimeSnapshot?> current) : IMetricSource
{
    public void Declare(MetricRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        registry.Gauge("tpt_engine_info", "1 for the engine (linux or sockets) each TCP server of the configuration in use runs on", sink =>
        {
            if (current() is not { } snapshot)
            {
                return;
            }

            foreach (var server in snapshot.Servers.Values.Where(s => !s.Config.IsUdp).OrderBy(s => s.Name, StringComparer.Ordinal))
            {
                sink.Add(1, ("name", server.Name), ("engine", EngineSelection.Name(server.Engine)));
            }
        });

        // How much of the relayed traffic went socket to socket inside the kernel: bulk transfers on the Linux engine.
        registry.Counter("tpt_engine_spliced_bytes_total", "Bytes the Linux engine's relays passed on through a pipe (splice) rather than copying them through the process", sink => sink.Add(Engine.Linux.SplicePipe.Moved));
    }
}
