using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Listeners;

/// <summary>
/// Accepts from one listener until it is closed, and outlives every failure on the way: EMFILE, ENFILE, ENOBUFS,
/// aborted handshakes and anything unexpected back off (10 ms doubling to 1 s) instead of ending the listener.
/// Out of descriptors, it first gives up the spares (<see cref="IDescriptorBudget"/>) and accepts again only once
/// it could take them back. One instance serves every listener; its error log is rate-limited across them.
/// </summary>
/// <param name="stopping">True once a shutdown has begun: a failure then ends the loop.</param>
internal sealed class AcceptLoop(IDescriptorBudget descriptors, TimeProvider time, Func<bool> stopping, ILogger logger)
{
    internal const int FirstBackoffMs = 10;
    internal const int MaxBackoffMs = 1000;

    private readonly RateLimitedLog _errorLog = new(TimeSpan.FromSeconds(1));

    /// <summary>Hands each accepted socket to <paramref name="accepted"/>, on this loop's thread, until the source closes.</summary>
    public async Task RunAsync(IAcceptSource source, Action<Socket> accepted)
    {
        var backoffMs = 0;
        while (true)
        {
            Socket socket;
            try
            {
                if (backoffMs > 0 && !descriptors.TryTakeSpares())
                {
                    // Still short of descriptors: accepting now would only take the runtime's last ones.
                    backoffMs = Next(backoffMs);
                    await Task.Delay(TimeSpan.FromMilliseconds(backoffMs), time);
                    continue;
                }

                socket = await source.AcceptAsync();
                backoffMs = 0;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                if (stopping() || source.IsClosed)
                {
                    return;
                }

                if (e.SocketErrorCode == SocketError.TooManyOpenSockets)
                {
                    // First, before logging or waiting (either may need a new thread, which needs descriptors).
                    descriptors.ReleaseSpares();
                }

                backoffMs = Next(backoffMs);
                if (_errorLog.TryEnter(out var suppressed))
                {
                    Log.AcceptFailed(logger, source.Text, e.SocketErrorCode.ToString(), backoffMs, suppressed);
                }

                await Task.Delay(TimeSpan.FromMilliseconds(backoffMs), time);
                continue;
            }
            catch (Exception e) when (!stopping())
            {
                // Whatever else fails here must not end the listener for good.
                backoffMs = Next(backoffMs);
                Log.AcceptLoopError(logger, source.Text, backoffMs, e);
                await Task.Delay(TimeSpan.FromMilliseconds(backoffMs), time);
                continue;
            }

            accepted(socket);
        }
    }

    private static int Next(int backoffMs) => Math.Clamp(backoffMs * 2, FirstBackoffMs, MaxBackoffMs);
}
