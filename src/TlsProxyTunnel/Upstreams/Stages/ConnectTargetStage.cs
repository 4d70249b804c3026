using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Upstreams.HttpConnect;

namespace TlsProxyTunnel.Upstreams.Stages;

/// <summary>Decides the CONNECT authority of a via (static target or the client's SNI) before anything is dialled.</summary>
/// <remarks>
/// A static target's CONNECT request is the same for every connection of the route, so its bytes are built here,
/// once per configuration generation; only an SNI-dependent one is built per connection.
/// </remarks>
internal sealed class ConnectTargetStage(UpstreamConfig upstream, ViaConfig via, ILogger logger) : IUpstreamStage
{
    private readonly byte[]? _staticRequest = BuildStatic(via);

    public ValueTask<ConnectionOutcome?> RunAsync(UpstreamDial dial)
    {
        if (via.UseSniAsTarget && dial.Connection.Sni is { } sni)
        {
            // The SNI was validated as a host name when read, so it cannot carry CR/LF, ':' or spaces.
            dial.Authority = $"{sni}:{via.TargetPort}";
            dial.AuthorityDisplay = dial.Authority;
            dial.ConnectRequest = ConnectRequestWriter.Build(dial.Authority, via.Headers);
        }
        else if (via.Target is not null)
        {
            dial.Authority = via.Target;
            dial.AuthorityDisplay = via.TargetDisplay ?? "<target>";
            dial.ConnectRequest = _staticRequest ?? ConnectRequestWriter.Build(via.Target, via.Headers);
        }
        else
        {
            // Never send raw client bytes to a proxy port: that is what tls-proxy-tunnel does, and it misroutes.
            Log.NoConnectTarget(logger, upstream.Name, dial.Connection.Server.Name);
            return ValueTask.FromResult<ConnectionOutcome?>(ConnectionOutcome.NoTarget);
        }

        return ValueTask.FromResult<ConnectionOutcome?>(null);
    }

    private static byte[]? BuildStatic(ViaConfig via)
    {
        if (via.Target is null)
        {
            return null;
        }

        try
        {
            return ConnectRequestWriter.Build(via.Target, via.Headers);
        }
        catch (ArgumentException)
        {
            // Validation keeps this from happening; if it did, each connection fails as it always would have.
            return null;
        }
    }
}
