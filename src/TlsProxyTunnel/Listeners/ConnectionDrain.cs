using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Listeners;

/// <summary>
/// The shutdown drain: wait for the connections a shutdown waits for (all but probes) until they are gone,
/// <c>shutdown_timeout</c> passes or a second signal comes; then cut whatever is left.
/// </summary>
internal sealed class ConnectionDrain(ConnectionTracker tracker, TimeProvider time, ILogger logger)
{
    /// <summary>How long cut connections get to complete their aborted operations and write their access line.</summary>
    internal static readonly TimeSpan AccountingGrace = TimeSpan.FromSeconds(2);

    /// <returns>Null when every connection finished; otherwise why the drain ended early, for the caller to log.</returns>
    public async Task<string?> WaitAsync(TimeSpan timeout, Task forced)
    {
        Log.Draining(logger, tracker.DrainCount, timeout.TotalSeconds);
        var drained = tracker.WhenDrained();
        using var stop = new CancellationTokenSource();
        var deadline = Task.Delay(timeout, time, stop.Token);
        var first = await Task.WhenAny(drained, deadline, forced);
        await stop.CancelAsync();
        return first == drained ? null : first == forced ? "second signal" : "shutdown_timeout reached";
    }

    /// <summary>Cuts the connections left (relays the drain gave up on, probes) and lets them account.</summary>
    public async Task CutAsync()
    {
        if (tracker.Count == 0)
        {
            return;
        }

        tracker.AbortAll();

        // Aborted sockets complete their pending operations at once; give the handlers a moment to account.
        using var stop = new CancellationTokenSource();
        await Task.WhenAny(tracker.WhenClosed(), Task.Delay(AccountingGrace, time, stop.Token));
        await stop.CancelAsync();
    }
}
