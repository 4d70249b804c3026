using TlsProxyTunnel.Configuration.Yaml;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// The keys of a mapping keyed by server name pattern (<c>sni</c>, <c>terminate_tls.certs</c>): exact host names or
/// <c>*.suffix</c> wildcards, normalised (lower case, no trailing dot), each name once.
/// </summary>
internal static class SniPatterns
{
    /// <summary>The entries with a valid, first-seen pattern, in file order; an error for each other key.</summary>
    /// <param name="noun">How a key is named in messages: "SNI key".</param>
    public static List<(string Pattern, ConfigMapping.Entry Entry)> Read(ConfigMapping mapping, string noun, DiagnosticBag diagnostics)
    {
        var valid = new List<(string, ConfigMapping.Entry)>();
        var seen = new Dictionary<string, ConfigScalar>(StringComparer.Ordinal);
        foreach (var entry in mapping.Entries)
        {
            var key = entry.Key;
            var pattern = HostNameRules.Normalize(key.Value);
            var isValid = pattern.StartsWith("*.", StringComparison.Ordinal)
                ? HostNameRules.IsValid(pattern[2..])
                : HostNameRules.IsValid(pattern);
            if (!isValid)
            {
                diagnostics.Error(key.Start, $"{noun} {DiagnosticText.Quote(key.Value)} is not a valid host name or '*.suffix' wildcard");
                continue;
            }

            if (seen.TryGetValue(pattern, out var first))
            {
                diagnostics.Error(key.Start, $"{noun} {DiagnosticText.Quote(key.Value)} is the same name as {DiagnosticText.Quote(first.Value)} (line {first.Start.Line}); names are compared without case and trailing dot");
                continue;
            }

            seen.Add(pattern, key);
            valid.Add((pattern, entry));
        }

        return valid;
    }
}
