using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Diagnostics;

namespace TlsProxyTunnel.Upstreams.Stages;

/// <summary>Decides the CONNECT authority of a via (static target or the client's SNI) before anything is dialled.</summary>
internal sealed class ConnectTargetStage(UpstreamConfig upstream, ViaConfig via, ILogger logger) : IUpstreamStage
{
    public ValueTask<ConnectionOutcome?> RunAsync(UpstreamDial dial)
    {
        if (via.UseSniAsTarget && dial.Connection.Sni is { } sni)
        {
            // The SNI was validated as a host name when read, so it cannot carry CR/LF, ':' or spaces.
            dial.Authority = $"{sni}:{via.TargetPort}";
            dial.AuthorityDisplay = dial.Authority;
        }
        else if (via.Target is not null)
        {
            dial.Authority = via.Target;
            dial.AuthorityDisplay = via.TargetDisplay ?? "<target>";
        }
        else
        {
            // Never send raw client bytes to a proxy port: that is what tls-proxy-tunnel does, and it misroutes.
            Log.NoConnectTarget(logger, upstream.Name, dial.Connection.Server.Name);
            return ValueTask.FromResult<ConnectionOutcome?>(ConnectionOutcome.NoTarget);
        }

        return ValueTask.FromResult<ConnectionOutcome?>(null);
    }
}
