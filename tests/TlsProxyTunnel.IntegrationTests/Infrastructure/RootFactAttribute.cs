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

/// <summary>The theory form of <see cref="RootFactAttribute"/>.</summary>
public sealed class RootTheoryAttribute : TheoryAttribute
{
    public RootTheoryAttribute()
    {
        if (NetworkNamespace.Unavailable is { } reason)
        {
            Skip = reason;
        }
    }
}
