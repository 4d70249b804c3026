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
    ValueTask<ResolveResult> ResolveAsync(HostToResolve host, AddressFamilyFilter family, CancellationToken ct);
}

/// <summary>A host name or IP literal to resolve, and how messages and log lines may name it.</summary>
/// <param name="Name">The host itself.</param>
/// <param name="Display">
/// What log lines show for it: the name when the file wrote it, or a stand-in (naming the upstream) when it came
/// from the environment, which may be a secret a log line must not carry.
/// </param>
/// <param name="Hidden">The name came from the environment: no message may quote it, not even inside a longer name.</param>
internal readonly record struct HostToResolve(string Name, string Display, bool Hidden)
{
    /// <summary>A name written in the file itself, shown as it is.</summary>
    public static implicit operator HostToResolve(string name) => Visible(name);

    public static HostToResolve Visible(string name) => new(name, name, Hidden: false);

    /// <summary>An upstream's host, hidden when it came from the environment.</summary>
    public static HostToResolve Of(UpstreamConfig upstream) =>
        upstream.HiddenHost is { } hidden ? new(upstream.Host, hidden, Hidden: true) : Visible(upstream.Host);

    /// <summary>For a sentence: the name quoted, or the stand-in as it is.</summary>
    public string Quoted => Hidden ? Display : $"'{Name}'";

    public override string ToString() => Display;
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
