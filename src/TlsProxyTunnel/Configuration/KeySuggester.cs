namespace TlsProxyTunnel.Configuration;

/// <summary>Finds the closest known word to a misspelt one, for "did you mean" hints.</summary>
internal static class KeySuggester
{
    public static string? Closest(string input, IEnumerable<string> candidates)
    {
        // Keys and names are short; the edit distance costs length times length, so a huge input gets no hint.
        if (input.Length > MaxInputLength)
        {
            return null;
        }

        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = Distance(input.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance < bestDistance)
            {
                bestDistance = distance;
                best = candidate;
            }
        }

        // Beyond about a third of the word the "suggestion" is noise rather than a likely typo.
        var limit = Math.Max(2, input.Length / 3);
        if (bestDistance <= limit && bestDistance < input.Length)
        {
            return best;
        }

        // A shortened key ("user" for "username") is far by edit distance but an obvious intent.
        return input.Length >= 3
            ? candidates.FirstOrDefault(c => c.StartsWith(input, StringComparison.OrdinalIgnoreCase))
            : null;
    }

    private const int MaxInputLength = 64;

    /// <summary>" (did you mean 'x'?)" or empty, ready to append to a message.</summary>
    public static string Hint(string input, IEnumerable<string> candidates)
    {
        var closest = Closest(input, candidates);
        return closest is null ? "" : $"; did you mean {DiagnosticText.Quote(closest)}?";
    }

    /// <summary>Optimal string alignment distance: Levenshtein plus adjacent transpositions, the commonest typo.</summary>
    internal static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                var value = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    value = Math.Min(value, d[i - 2, j - 2] + 1);
                }

                d[i, j] = value;
            }
        }

        return d[a.Length, b.Length];
    }
}
