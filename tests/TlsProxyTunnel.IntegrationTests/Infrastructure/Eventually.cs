using System.Diagnostics;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>
/// Polling, for the few states another process keeps and announces nowhere: what Prometheus has stored (it
/// scrapes on its own clock and logs nothing per scrape), a DNS answer whose TTL must run out. Anything that
/// has a signal (a log line, an exit, a socket event) waits on that instead.
/// </summary>
public static class Eventually
{
    /// <summary>Checks <paramref name="done"/> every <paramref name="interval"/> until it holds or <paramref name="deadline"/> passes; returns whether it held.</summary>
    public static async Task<bool> HoldsAsync(Func<Task<bool>> done, TimeSpan deadline, TimeSpan interval)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await done().WaitAsync(deadline))
            {
                return true;
            }

            if (clock.Elapsed >= deadline)
            {
                return false;
            }

            await Task.Delay(interval);
        }
    }
}
