using System.Diagnostics;
using System.Net.Sockets;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>Filling the path towards a peer that does not read.</summary>
internal static class Backpressure
{
    /// <summary>Sends 64 KiB chunks until one stays pending for 300 ms: the peer's window and every queue between are full.</summary>
    /// <exception cref="TimeoutException">Nothing pushed back within <paramref name="bound"/>.</exception>
    public static async Task SendUntilBlockedAsync(Socket socket, TimeSpan bound)
    {
        var chunk = new byte[64 * 1024];
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < bound)
        {
            using var stall = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            try
            {
                await socket.SendAsync(chunk, SocketFlags.None, stall.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        throw new TimeoutException("the peer never pushed back");
    }
}
