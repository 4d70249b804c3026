using System.Net;

namespace TlsProxyTunnel.Configuration;

/// <summary>Checks that need the whole file: listen address clashes and upstream references.</summary>
internal static class ConfigValidator
{
    public static void Validate(ConfigMapper.Mapped mapped, DiagnosticBag diagnostics)
    {
        CheckListenClashes(mapped.Listens, diagnostics);
        CheckReferences(mapped, diagnostics);
    }

    private static void CheckListenClashes(IReadOnlyList<ConfigMapper.ListenUse> listens, DiagnosticBag diagnostics)
    {
        for (var i = 0; i < listens.Count; i++)
        {
            var later = listens[i];

            // Port 0 asks the OS for a fresh port each time, so such entries never clash.
            if (later.Address.EndPoint.Port == 0)
            {
                continue;
            }

            for (var j = 0; j < i; j++)
            {
                var earlier = listens[j];
                if (earlier.Udp != later.Udp || !Overlap(earlier.Address.EndPoint, later.Address.EndPoint))
                {
                    continue;
                }

                var kind = earlier.Address.EndPoint.Equals(later.Address.EndPoint) ? "duplicates" : "overlaps";
                diagnostics.Error(later.Where, $"listen address {DiagnosticText.Quote(later.Address.Text)} of server {DiagnosticText.Quote(later.Server)} {kind} {DiagnosticText.Quote(earlier.Address.Text)} of server {DiagnosticText.Quote(earlier.Server)} (line {earlier.Where.Line}); both cannot be bound");
                break;
            }
        }
    }

    /// <summary>
    /// Same port and family, and one address covers the other. IPv4 and IPv6 never clash because listeners
    /// bind IPv6 sockets v6-only, so 0.0.0.0:P and [::]:P can both be bound.
    /// </summary>
    private static bool Overlap(IPEndPoint a, IPEndPoint b) =>
        a.Port == b.Port
        && a.AddressFamily == b.AddressFamily
        && (a.Address.Equals(b.Address) || IsWildcard(a.Address) || IsWildcard(b.Address));

    private static bool IsWildcard(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    /// <summary>Works from the names written in the file, so it still runs when other errors left no config.</summary>
    private static void CheckReferences(ConfigMapper.Mapped mapped, DiagnosticBag diagnostics)
    {
        var known = ConfigMapper.BuiltInUpstreams.Keys.Concat(mapped.UserUpstreams.Keys).ToList();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var reference in mapped.References)
        {
            used.Add(reference.Name);
            if (!known.Contains(reference.Name))
            {
                // No suggestion for a hidden name: the closest match would hint at the secret.
                var hint = reference.Hidden ? "" : KeySuggester.Hint(reference.Name, known);
                diagnostics.Error(reference.Where, $"{reference.Usage} names upstream {reference.Shown}, which is not defined under 'upstream' nor built in (ban, echo, health){hint}");
            }
        }

        foreach (var (name, where) in mapped.UserUpstreams)
        {
            if (!used.Contains(name))
            {
                diagnostics.Warning(where, $"upstream {DiagnosticText.Quote(name)} is not used by any server's 'default' or 'sni'");
            }
        }
    }
}
