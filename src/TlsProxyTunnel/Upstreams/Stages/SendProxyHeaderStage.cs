using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.ProxyProtocol;
using TlsProxyTunnel.Relay;

namespace TlsProxyTunnel.Upstreams.Stages;

/// <summary>
/// <c>upstream.NAME.proxy_protocol</c>: writes a PROXY header on the upstream leg as it stands when this stage runs,
/// which is where <see cref="Placement"/> put the stage: after the connect (and a via's CONNECT), in clear before the
/// TLS handshake; or after <see cref="TlsOriginateStage"/>, as the first bytes inside the session. The source is the
/// client as tpt knows it (a received PROXY header's source included); the destination is the original destination
/// when known (a received header, transparent mode), else the address the client reached tpt on.
/// </summary>
internal sealed class SendProxyHeaderStage(ProxyProtocolVersion version, ProxyProtocolPlacement placement) : IUpstreamStage
{
    public ProxyProtocolVersion Version => version;

    public ProxyProtocolPlacement Placement => placement;

    public async ValueTask<ConnectionOutcome?> RunAsync(UpstreamDial dial)
    {
        var connection = dial.Connection;
        var header = ProxyProtocolWriter.Create(version, connection.RemoteEndPoint, connection.OriginalDestination ?? connection.LocalEndPoint);
        try
        {
            await connection.UpstreamLeg!.WriteAsync(header);
        }
        catch (Exception e) when (LegErrors.IsTransport(e))
        {
            return connection.IsAborted ? ConnectionOutcome.Aborted : ConnectionOutcome.UpstreamError;
        }

        return null;
    }
}
