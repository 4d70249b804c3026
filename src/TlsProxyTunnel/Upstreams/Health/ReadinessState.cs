namespace TlsProxyTunnel.Upstreams.Health;

/// <summary>Whether /ready should say yes: every listener bound and not draining.</summary>
internal sealed class ReadinessState
{
    private volatile bool _ready;

    public bool IsReady => _ready;

    public void MarkReady() => _ready = true;

    public void MarkNotReady() => _ready = false;
}
