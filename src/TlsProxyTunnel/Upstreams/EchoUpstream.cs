using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Relay;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Upstreams;

/// <summary>Sends back every byte received, the ClientHello too, and half-closes on EOF (decrypted bytes under terminate_tls).</summary>
internal sealed class EchoUpstream : IUpstream
{
    public string Name => "echo";

    public bool ServesInline => true;

    public async ValueTask<ConnectionOutcome> ServeAsync(ClientConnection connection, Route route)
    {
        var leg = connection.ClientLeg;
        var initial = connection.InitialBytes;
        if (!initial.IsEmpty)
        {
            connection.Counters.AddFromClient(initial.Length);
            try
            {
                await leg.WriteAsync(initial);
            }
            catch (Exception e) when (LegErrors.IsTransport(e))
            {
                return connection.IsAborted ? ConnectionOutcome.Aborted : ConnectionOutcome.ClientError;
            }

            connection.Counters.AddToClient(initial.Length);
            connection.ReleaseInitialBytes();
        }

        // A client that sends but never reads would otherwise hold the echo's send, and the connection, forever.
        using var stall = connection.Server.Config.WriteTimeout is { } writeTimeout
            ? new SendStallWatch(writeTimeout, static c => ((ClientConnection)c).Abort(ConnectionOutcome.WriteTimeout), connection)
            : null;
        var result = leg is SocketLeg
            ? await DuplexRelay.PumpAsync(connection.Client, connection.Client, connection.Counters, DuplexRelay.PumpDirection.Echo, stall)
            : await DuplexRelay.PumpAsync(leg, leg, connection.Counters, DuplexRelay.PumpDirection.Echo, stall);
        return result switch
        {
            DuplexRelay.PumpResult.Eof => ConnectionOutcome.Completed,
            DuplexRelay.PumpResult.Aborted => ConnectionOutcome.Aborted,
            _ => ConnectionOutcome.ClientError,
        };
    }
}
