using TlsProxyTunnel.Connections;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Upstreams;

/// <summary>Closes at once and sends nothing.</summary>
internal sealed class BanUpstream : IUpstream
{
    public string Name => "ban";

    public bool ServesInline => false;

    public ValueTask<ConnectionOutcome> ServeAsync(ClientConnection connection, Route route) => ValueTask.FromResult(ConnectionOutcome.Banned);
}
