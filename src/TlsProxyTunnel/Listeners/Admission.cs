using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Listeners;

/// <summary>
/// Decides whether an accepted socket becomes a connection: a place under its server's <c>maxclients</c>
/// (<see cref="ConnectionSlot"/>) and room under the descriptor limit. A refused socket is closed here, counted as
/// rejected and logged (rate-limited); an admitted one leaves with its slot, which the connection then owns.
/// </summary>
internal sealed class Admission(ConnectionTracker tracker, IDescriptorBudget descriptors, ILogger logger)
{
    private readonly RateLimitedLog _rejectLog = new(TimeSpan.FromSeconds(1));

    /// <param name="closeRefused">False leaves a refused socket to the caller to close (one the Linux engine still
    /// holds must leave it first: closing a held socket waits for the hold to end).</param>
    public bool TryAdmit(RuntimeServer server, Socket accepted, out ConnectionSlot slot, bool closeRefused = true)
    {
        if (!ConnectionSlot.TryTake(server.Limiter, server.ConnectionLimit, out slot))
        {
            server.Metrics.OnRejected();
            if (_rejectLog.TryEnter(out var suppressed))
            {
                Log.Rejected(logger, server.Name, server.ConnectionLimit, accepted.RemoteEndPoint?.ToString() ?? "-", suppressed);
            }

            if (closeRefused)
            {
                accepted.Dispose();
            }

            return false;
        }

        if (!descriptors.HasRoom(tracker.Count))
        {
            slot.Release();
            slot = ConnectionSlot.None;
            server.Metrics.OnRejected();
            if (_rejectLog.TryEnter(out var suppressed))
            {
                Log.RejectedForDescriptors(logger, server.Name, descriptors.Limit, accepted.RemoteEndPoint?.ToString() ?? "-", DescriptorGuard.Reserve, suppressed);
            }

            if (closeRefused)
            {
                accepted.Dispose();
            }

            return false;
        }

        return true;
    }
}
