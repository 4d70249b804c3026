using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Inspection;

namespace TlsProxyTunnel.Connections.Stages;

/// <summary>
/// <c>capture</c> and <c>filters</c>: puts <see cref="InspectedLeg"/> around the client leg, last, so it sees what the
/// relay moves (plaintext after <c>terminate_tls</c>) and names the client a PROXY header gave.
/// </summary>
/// <param name="logger">Where the per-connection line of what filters changed goes; null logs none.</param>
internal sealed class InspectStage(CaptureWriter? capture, IReadOnlyList<FilterSettings> filters, ILogger? logger = null) : IClientStage
{
    private readonly ByteFilterChain? _fromClient = ByteFilterChain.For(filters, FilterDirections.In);
    private readonly ByteFilterChain? _toClient = ByteFilterChain.For(filters, FilterDirections.Out);

    // Wraps a leg; its only wait is the capture queue's.
    public bool HoldsThread => false;

    public async ValueTask<ConnectionOutcome?> RunAsync(ClientConnection connection)
    {
        var client = CaptureAddress.Format(connection.RemoteEndPoint);

        // Hello bytes read but not consumed here (tls: true without terminate_tls) go upstream first, around the
        // leg: captured now as the first "i" chunk, unfiltered (they are a TLS record, no text to change).
        if (capture is not null && !connection.InitialBytes.IsEmpty)
        {
            await capture.AddAsync(client, 'i', connection.InitialBytes.Span);
        }

        // The access log's rx counts what went upstream (after "i" filters) and tx what the upstream sent (before "o"
        // filters); this line tells both sides of each, once the connection has closed.
        Action<FilterCounts>? report = logger is not null && filters.Count > 0
            ? counts => Log.Filtered(logger, connection.Server.Name, client, counts.FromClientBefore, counts.FromClientAfter, counts.ToClientBefore, counts.ToClientAfter)
            : null;
        connection.UpgradeClient(new InspectedLeg(connection.ClientLeg, capture, _fromClient, _toClient, client, report));
        return null;
    }
}
