namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>A theory that runs the original uotp-server over TLS: skipped, with the reason, where no Python can (see <see cref="OriginalUotp.TlsServerDefect"/>).</summary>
public sealed class OriginalUotpTlsServerTheoryAttribute : TheoryAttribute
{
    public OriginalUotpTlsServerTheoryAttribute()
    {
        if (OriginalUotp.TlsServerDefect is { } reason)
        {
            Skip = reason;
        }
    }
}
