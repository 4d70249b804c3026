using System.Text;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Shell-like variable expansion for configuration values: <c>$VAR</c>, <c>${VAR}</c>, <c>${VAR:-default}</c>
/// and <c>$$</c> for a literal dollar. Every occurrence is expanded (tls-proxy-tunnel expanded only the first).
/// </summary>
internal static class EnvironmentExpander
{
    /// <param name="Value">The expanded text.</param>
    /// <param name="UsedVariables">True when any variable reference was substituted (even by its default), which makes the value sensitive.</param>
    /// <param name="Problems">Unset variables and malformed references, one message each; empty when the value is good.</param>
    /// <param name="Substituted">The values taken from the environment (not defaults written in the file): the secret parts of <paramref name="Value"/>.</param>
    internal sealed record Result(string Value, bool UsedVariables, IReadOnlyList<string> Problems, IReadOnlyList<string> Substituted);

    public static Result Expand(string text, Func<string, string?> environment)
    {
        // Most values have no '$' at all; skip the builder for them.
        if (!text.Contains('$', StringComparison.Ordinal))
        {
            return new Result(text, false, [], []);
        }

        var output = new StringBuilder(text.Length);
        var problems = new List<string>();
        var substituted = new List<string>();
        var used = false;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c != '$' || i + 1 == text.Length)
            {
                output.Append(c);
                i++;
                continue;
            }

            var next = text[i + 1];
            if (next == '$')
            {
                output.Append('$');
                i += 2;
            }
            else if (next == '{')
            {
                i = ExpandBraced(text, i, environment, output, problems, substituted);
                used = true;
            }
            else if (IsNameStart(next))
            {
                var end = i + 1;
                while (end < text.Length && IsNameChar(text[end]))
                {
                    end++;
                }

                var name = text[(i + 1)..end];
                var value = environment(name);
                if (value is null)
                {
                    problems.Add($"environment variable '{name}' is not set (write ${{{name}:-default}} to give a default, or $$ for a literal '$')");
                }
                else
                {
                    output.Append(value);
                    substituted.Add(value);
                }

                used = true;
                i = end;
            }
            else
            {
                // "price $" or "$1": a '$' that starts no reference stays as written, like the shell.
                output.Append(c);
                i++;
            }
        }

        return new Result(output.ToString(), used, problems, substituted);
    }

    /// <summary>Handles <c>${...}</c> starting at <paramref name="dollar"/>; returns the index after it.</summary>
    private static int ExpandBraced(string text, int dollar, Func<string, string?> environment, StringBuilder output, List<string> problems, List<string> substituted)
    {
        var close = text.IndexOf('}', dollar + 2);
        if (close < 0)
        {
            problems.Add($"'${{' at offset {dollar} has no closing '}}' (write $$ for a literal '$')");
            return text.Length;
        }

        var inner = text[(dollar + 2)..close];
        var separator = inner.IndexOf(":-", StringComparison.Ordinal);
        var name = separator < 0 ? inner : inner[..separator];
        string? fallback = separator < 0 ? null : inner[(separator + 2)..];
        if (!IsName(name))
        {
            problems.Add($"'${{{inner}}}' is not a valid reference: a variable name is letters, digits and '_', not starting with a digit; a default is written ${{NAME:-default}}");
            return close + 1;
        }

        var value = environment(name);
        if (fallback is not null && string.IsNullOrEmpty(value))
        {
            // POSIX ':-': the default applies when the variable is unset or empty.
            output.Append(fallback);
        }
        else if (value is null)
        {
            problems.Add($"environment variable '{name}' is not set (write ${{{name}:-default}} to give a default)");
        }
        else
        {
            output.Append(value);
            substituted.Add(value);
        }

        return close + 1;
    }

    private static bool IsName(string name)
    {
        if (name.Length == 0 || !IsNameStart(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!IsNameChar(c))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsNameStart(char c) => char.IsAsciiLetter(c) || c == '_';

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';
}
