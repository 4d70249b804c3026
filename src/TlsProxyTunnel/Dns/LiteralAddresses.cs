using System.Collections.Concurrent;
using System.Net;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Dns;

/// <summary>
/// IP-literal hosts (<c>10.0.0.5</c>, <c>[2001:db8::1]</c>) skip DNS, and their answer never changes: it is made
/// once per host and family and shared by every connection after. Names are remembered as "not a literal" the same
/// way, so a name costs one dictionary lookup here instead of a parse per connection.
/// </summary>
/// <remarks>Keyed by configured hosts only (never client input), so the table stays as small as the configuration.</remarks>
internal sealed class LiteralAddresses
{
    private readonly ConcurrentDictionary<(string Host, AddressFamilyFilter Family), ResolveResult?> _known = new();

    /// <summary>The fixed answer for an IP literal; false for a name.</summary>
    public bool TryResolve(HostToResolve host, AddressFamilyFilter family, out ResolveResult result)
    {
        if (!_known.TryGetValue((host.Name, family), out var known))
        {
            known = _known.GetOrAdd((host.Name, family), static (key, host) => Answer(key.Host, key.Family, host.Quoted), host);
        }

        result = known!;
        return known is not null;
    }

    private static ResolveResult? Answer(string host, AddressFamilyFilter family, string display)
    {
        var name = host.AsSpan().Trim();
        if (name.StartsWith('[') && name.EndsWith(']'))
        {
            name = name[1..^1];
        }

        if (!IPAddress.TryParse(name, out var literal))
        {
            return null;
        }

        return AddressFamilies.Matches(literal, family)
            ? ResolveResult.Success([literal])
            : ResolveResult.Failure($"{display} is an {AddressFamilies.Name(literal)} address but the upstream allows {AddressFamilies.Text(family)} only");
    }
}
