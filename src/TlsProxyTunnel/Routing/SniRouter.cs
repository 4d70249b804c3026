namespace TlsProxyTunnel.Routing;

/// <summary>
/// Maps a normalised host name to a route: exact names first, then "*.suffix" wildcards with
/// the longest suffix winning. Immutable after construction, so it is safe to share between
/// connections and to swap atomically on reload.
/// </summary>
/// <typeparam name="TRoute">Whatever the caller routes to.</typeparam>
internal sealed class SniRouter<TRoute>
    where TRoute : class
{
    private readonly Dictionary<string, TRoute> _exact;
    private readonly Dictionary<string, TRoute> _wildcards;
    private readonly Dictionary<string, TRoute>.AlternateLookup<ReadOnlySpan<char>> _exactLookup;
    private readonly Dictionary<string, TRoute>.AlternateLookup<ReadOnlySpan<char>> _wildcardLookup;

    /// <summary>Builds the router.</summary>
    /// <param name="routes">Normalised patterns (see <see cref="HostName.IsValidPattern"/>) and their routes.</param>
    /// <exception cref="ArgumentException">A pattern is not normalised or appears twice: both are
    /// config-validation bugs that would otherwise turn into silent mis-routing.</exception>
    public SniRouter(IEnumerable<KeyValuePair<string, TRoute>> routes)
    {
        ArgumentNullException.ThrowIfNull(routes);
        _exact = new Dictionary<string, TRoute>(StringComparer.Ordinal);

        // Keyed by ".suffix" (dot kept) so a lookup is a plain slice of the name at one of its dots.
        _wildcards = new Dictionary<string, TRoute>(StringComparer.Ordinal);
        foreach (var (pattern, route) in routes)
        {
            ArgumentNullException.ThrowIfNull(route);
            if (!HostName.IsValidPattern(pattern, out var normalized) || !string.Equals(normalized, pattern, StringComparison.Ordinal))
            {
                throw new ArgumentException($"Route pattern '{pattern}' is not a normalised host name or *.suffix pattern.", nameof(routes));
            }

            var added = pattern.StartsWith("*.", StringComparison.Ordinal)
                ? _wildcards.TryAdd(pattern[1..], route)
                : _exact.TryAdd(pattern, route);
            if (!added)
            {
                throw new ArgumentException($"Route pattern '{pattern}' appears more than once.", nameof(routes));
            }
        }

        _exactLookup = _exact.GetAlternateLookup<ReadOnlySpan<char>>();
        _wildcardLookup = _wildcards.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Number of patterns, exact and wildcard.</summary>
    public int Count => _exact.Count + _wildcards.Count;

    /// <summary>Finds the route for a name already normalised by <see cref="HostName"/>; no allocation.</summary>
    /// <param name="normalizedName">Lower-case host name without a trailing dot.</param>
    /// <returns>The route, or null when nothing matches.</returns>
    public TRoute? Match(ReadOnlySpan<char> normalizedName)
    {
        if (_exactLookup.TryGetValue(normalizedName, out var route))
        {
            return route;
        }

        if (_wildcards.Count == 0)
        {
            return null;
        }

        // Dots scanned from the left give suffixes from longest to shortest, so the first hit is
        // the most specific wildcard. Starting at 1 requires a non-empty label before the
        // suffix, which is what keeps "*.example.com" from matching the apex "example.com".
        for (var i = 1; i < normalizedName.Length; i++)
        {
            if (normalizedName[i] == '.' && _wildcardLookup.TryGetValue(normalizedName[i..], out route))
            {
                return route;
            }
        }

        return null;
    }
}
