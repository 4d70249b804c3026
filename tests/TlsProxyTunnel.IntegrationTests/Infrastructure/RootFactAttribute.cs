namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>A test that needs a private network namespace and netfilter (root): skipped, with the reason, elsewhere.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (NetworkNamespace.Unavailable is { } reason)
        {
            Skip = reason;
        }
    }
}
