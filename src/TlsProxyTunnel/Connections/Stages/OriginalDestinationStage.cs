using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Connections.Stages;

/// <summary>
/// <c>transparent: true</c>: reads the destination the client addressed before netfilter's NAT (REDIRECT, DNAT) sent it
/// here. First of the stages, so a client without one is closed at once (ptw leaves it open forever).
/// </summary>
internal sealed class OriginalDestinationStage(ILogger logger) : IClientStage
{
    // One getsockopt.
    public bool HoldsThread => false;

    public ValueTask<ConnectionOutcome?> RunAsync(ClientConnection connection)
    {
        var lookup = OriginalDestinationLookup.Lookup(connection.Client);
        if (lookup.EndPoint is { } destination)
        {
            connection.OriginalDestination = destination;
            return ValueTask.FromResult<ConnectionOutcome?>(null);
        }

        Log.NoOriginalDestination(logger, connection.Server.Name, connection.RemoteEndPoint?.ToString() ?? "-", lookup.Error ?? "unknown");
        return ValueTask.FromResult<ConnectionOutcome?>(ConnectionOutcome.NoOriginalDestination);
    }
}
