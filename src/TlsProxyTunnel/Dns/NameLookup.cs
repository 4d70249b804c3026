using System.Globalization;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Dns;

/// <summary>
/// One resolution of a name that is not an IP literal nor a local name: DNS (every search candidate, both families
/// if asked) and then the system resolver, all within <c>resolver.timeout</c> measured on the real clock.
/// Returns the answer and how long it may be cached: the smallest record TTL clamped to [min_ttl, max_ttl],
/// <c>min_ttl</c> for the system resolver's answers.
/// </summary>
internal sealed class NameLookup(ResolverSettings settings, DnsLookup? dns, bool systemFallback, CancellationToken disposed)
{
    public async Task<(ResolveResult Result, TimeSpan Ttl)> LookupAsync(string name, bool absolute, AddressFamilyFilter family, HostToResolve host)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(disposed);
        deadline.CancelAfter(settings.Timeout);
        var token = deadline.Token;

        string? error;
        if (dns is not null)
        {
            var answer = await dns.QueryAsync(name, absolute, family, host.Hidden, token);
            if (answer.Addresses.Count > 0)
            {
                return (ResolveResult.Success(answer.Addresses), Clamp(answer.Ttl));
            }

            error = answer.Error;
        }
        else
        {
            error = "no name server configured";
        }

        if (systemFallback && !token.IsCancellationRequested)
        {
            var (addresses, systemError) = await SystemLookup.QueryAsync(name, family, token);
            if (addresses.Count > 0)
            {
                return (ResolveResult.Success(addresses), settings.MinTtl);
            }

            error ??= systemError;
        }

        if (deadline.IsCancellationRequested && !disposed.IsCancellationRequested)
        {
            error = string.Create(CultureInfo.InvariantCulture, $"lookup timed out after {settings.Timeout.TotalSeconds:0.###}s") + (error is null ? "" : $" ({error})");
        }

        return (ResolveResult.Failure(CannotResolve(host, family, error ?? "no address")), default);
    }

    public static string CannotResolve(HostToResolve host, AddressFamilyFilter family, string why) =>
        $"cannot resolve {host.Quoted} ({AddressFamilies.Text(family)}): {why}";

    private TimeSpan Clamp(TimeSpan ttl)
    {
        if (ttl > settings.MaxTtl)
        {
            ttl = settings.MaxTtl;
        }

        return ttl < settings.MinTtl ? settings.MinTtl : ttl;
    }
}
