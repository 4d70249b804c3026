using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Inspection;

namespace TlsProxyTunnel.Connections.Stages;

/// <summary>
/// <c>capture</c> and <c>filters</c>: puts <see cref="InspectedLeg"/> around the client leg, last, so it sees what the
/// relay moves (plaintext after <c>terminate_tls</c>) and names the client a PROXY header gave.
/// </summary>
/// <remarks>The access line of a connection whose server has filters shows the bytes each way before and after them.</remarks>
internal sealed class InspectStage(CaptureWriter? capture, IReadOnlyList<FilterSettings> filters) : IClientStage
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

        connection.UpgradeClient(new InspectedLeg(connection.ClientLeg, capture, _fromClient, _toClient, client));
        return null;
    }
}
