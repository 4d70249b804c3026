using System.Net;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Dns;

/// <summary>Turns an upstream or proxy host name into addresses. Failures are results, not exceptions.</summary>
internal interface IHostResolver
{
    /// <summary>
    /// Resolves <paramref name="host"/> (a name or an IP literal) keeping only the addresses
    /// <paramref name="family"/> allows. Cancelling <paramref name="ct"/> abandons the wait only:
    /// a shared lookup already under way keeps running for the other callers.
    /// </summary>
    ValueTask<ResolveResult> ResolveAsync(string host, AddressFamilyFilter family, CancellationToken ct);
}

/// <summary>The answer to one <see cref="IHostResolver.ResolveAsync"/>; instances may be shared between callers.</summary>
internal sealed class ResolveResult
{
    private ResolveResult(IReadOnlyList<IPAddress> addresses, bool stale, string? error)
    {
        Addresses = addresses;
        Stale = stale;
        Error = error;
    }

    /// <summary>At least one address on success (IPv4 before IPv6 for <see cref="AddressFamilyFilter.Any"/>); empty on failure.</summary>
    public IReadOnlyList<IPAddress> Addresses { get; }

    /// <summary>The last good answer, served because refreshing it failed; still within <c>resolver.stale_for</c>.</summary>
    public bool Stale { get; }

    /// <summary>Why the name could not be resolved, fit for a log line; null on success.</summary>
    public string? Error { get; }

    public bool Succeeded => Error is null;

    public static ResolveResult Success(IReadOnlyList<IPAddress> addresses, bool stale = false)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        if (addresses.Count == 0)
        {
            throw new ArgumentException("A successful resolution has at least one address.", nameof(addresses));
        }

        return new ResolveResult(addresses, stale, null);
    }

    public static ResolveResult Failure(string error)
    {
        ArgumentException.ThrowIfNullOrEmpty(error);
        return new ResolveResult([], false, error);
    }

    public override string ToString() =>
        Error ?? string.Join(", ", Addresses) + (Stale ? " (stale)" : "");
}
