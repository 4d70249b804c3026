using System.Text;
using System.Text.RegularExpressions;

namespace TlsProxyTunnel.IntegrationTests.Packaging;

/// <summary>
/// .dockerignore semantics as BuildKit applies them: patterns in order, the last one that matches a path
/// or any of its parent directories decides, <c>!</c> re-includes, <c>**</c> spans directories.
/// </summary>
public sealed class DockerIgnore
{
    private readonly List<(Regex Pattern, bool Exclude)> _rules = [];

    private DockerIgnore()
    {
    }

    public static DockerIgnore Load(string path)
    {
        var ignore = new DockerIgnore();
        foreach (var raw in File.Exists(path) ? File.ReadAllLines(path) : [])
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var exclude = !line.StartsWith('!');
            var pattern = (exclude ? line : line[1..]).Trim().Trim('/');
            ignore._rules.Add((new Regex("^" + ToRegex(pattern) + "$", RegexOptions.CultureInvariant), exclude));
        }

        return ignore;
    }

    /// <summary>Whether a path relative to the context root (forward slashes) is sent to the builder.</summary>
    public bool IsIncluded(string relativePath)
    {
        var parts = relativePath.Trim('/').Split('/');
        var prefixes = Enumerable.Range(1, parts.Length).Select(n => string.Join('/', parts[..n])).ToArray();
        var excluded = false;
        foreach (var (pattern, exclude) in _rules)
        {
            if (prefixes.Any(pattern.IsMatch))
            {
                excluded = exclude;
            }
        }

        return !excluded;
    }

    private static string ToRegex(string pattern)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*')
            {
                // "**/" matches zero or more directories; a bare "**" anything.
                var slash = i + 2 < pattern.Length && pattern[i + 2] == '/';
                sb.Append(slash ? "(.*/)?" : ".*");
                i += slash ? 2 : 1;
            }
            else
            {
                sb.Append(c switch
                {
                    '*' => "[^/]*",
                    '?' => "[^/]",
                    _ => Regex.Escape(c.ToString()),
                });
            }
        }

        return sb.ToString();
    }
}
