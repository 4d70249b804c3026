using System.Globalization;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>
/// Reads env_logger's filter syntax (what tls-proxy-tunnel's <c>log:</c> and RUST_LOG take) into a
/// <see cref="LogFilter"/>: comma-separated directives, each <c>level</c> (the default), <c>target</c> (that target
/// at every level) or <c>target=level</c>, optionally followed by <c>/regex</c>. Targets are tls-proxy-tunnel's
/// module paths, mapped onto tpt's categories, or tpt's own category names. As in env_logger, a filter that names
/// targets but no default level logs nothing else, the most specific target wins, and a later repeat wins.
/// </summary>
internal static class LogFilterParser
{
    private const string OwnCategories = "TlsProxyTunnel";
    private const int MaxMessages = 10;
    private const int MaxShown = 80;

    /// <summary>
    /// tls-proxy-tunnel's modules and the categories that log what they logged. A module path must match exactly:
    /// a made-up submodule would otherwise widen silently to its parent.
    /// </summary>
    private static readonly Dictionary<string, string[]> RustTargets = new(StringComparer.Ordinal)
    {
        ["tls_proxy_tunnel"] = [OwnCategories],
        ["tls_proxy_tunnel::config"] = ["TlsProxyTunnel.Hosting.ConfigReloader"],
        ["tls_proxy_tunnel::config::loader"] = ["TlsProxyTunnel.Hosting.ConfigReloader"],
        ["tls_proxy_tunnel::servers"] = ["TlsProxyTunnel.Listeners", "TlsProxyTunnel.Access", "TlsProxyTunnel.Dns"],
        ["tls_proxy_tunnel::servers::builder"] = ["TlsProxyTunnel.Listeners"],
        ["tls_proxy_tunnel::servers::protocol"] = ["TlsProxyTunnel.Access"],
        ["tls_proxy_tunnel::servers::protocol::tcp"] = ["TlsProxyTunnel.Access"],
        ["tls_proxy_tunnel::servers::protocol::tls"] = ["TlsProxyTunnel.Access"],
        ["tls_proxy_tunnel::servers::upstream_address"] = ["TlsProxyTunnel.Dns"],
        ["tls_proxy_tunnel::upstreams"] = ["TlsProxyTunnel.Upstream"],
        ["tls_proxy_tunnel::upstreams::proxy_to_upstream"] = ["TlsProxyTunnel.Upstream"],
        ["tls_proxy_tunnel::upstreams::proxy_to_upstream::connect"] = ["TlsProxyTunnel.Upstream"],
        ["tls_proxy_tunnel::upstreams::proxy_to_upstream::http"] = ["TlsProxyTunnel.Upstream"],
        ["tls_proxy_tunnel::upstreams::proxy_to_upstream::relay"] = ["TlsProxyTunnel.Upstream"],
    };

    /// <param name="showText">False when the text came from the environment through the file: messages then never quote it.</param>
    public static LogFilterParse Parse(string text, bool showText = true)
    {
        var errors = new List<string>();
        var warnings = new List<string>();
        string Quote(string part) => showText ? $"'{Printable(part)}'" : "(value from the environment not shown)";

        var spec = text.Trim();
        var slash = spec.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            warnings.Add($"the message filter {Quote(spec[slash..])} is not supported and is ignored");
            spec = spec[..slash];
        }

        var directives = SplitDirectives(spec).Select(d => d.Trim()).Where(d => d.Length > 0).ToList();
        if (directives.Count == 0)
        {
            errors.Add($"is empty; expected a log level ({LogLevels.Expected}) or a filter such as 'info,tls_proxy_tunnel=debug'");
            return new LogFilterParse(null, errors, warnings);
        }

        // A lone word that is no level is far likelier a misspelt level than a target: env_logger would take it as
        // a target and log nothing at all.
        if (directives is [var only] && !only.Contains('=', StringComparison.Ordinal) && !only.Contains('[', StringComparison.Ordinal)
            && !LogLevels.TryParse(only, out _) && Categories(only) is null)
        {
            var hint = showText ? KeySuggester.Hint(only, LogLevels.Names) : "";
            errors.Add($"{Quote(only)} is not a log level; expected {LogLevels.Expected}, or a filter such as 'info,tls_proxy_tunnel=debug'{hint}");
            return new LogFilterParse(null, errors, warnings);
        }

        LogLevel? fallback = null;
        var rules = new Dictionary<string, (int Specificity, LogLevel Level)>(StringComparer.OrdinalIgnoreCase);
        foreach (var directive in directives)
        {
            if (directive.Contains('[', StringComparison.Ordinal) || directive.Contains('{', StringComparison.Ordinal))
            {
                // tracing's env-filter syntax: levels inside spans. tpt has no spans to filter on.
                warnings.Add($"{Quote(directive)}: span filters ([...]) are not supported; the directive is ignored");
                continue;
            }

            var parts = directive.Split('=');
            if (parts.Length > 2)
            {
                errors.Add($"{Quote(directive)} is not a directive; expected level, target or target=level");
                continue;
            }

            var target = parts[0].Trim();
            var levelText = parts.Length == 2 ? parts[1].Trim() : null;
            LogLevel level;
            if (levelText is null && LogLevels.TryParse(target, out var defaultLevel))
            {
                fallback = defaultLevel;
                continue;
            }

            if (levelText is null or "")
            {
                // env_logger: a target alone (or with "=") enables all of its levels.
                level = LogLevel.Trace;
            }
            else if (!LogLevels.TryParse(levelText, out level))
            {
                errors.Add($"{Quote(levelText)} in {Quote(directive)} is not a log level; expected {LogLevels.Expected}");
                continue;
            }

            if (Categories(target) is not { } categories)
            {
                warnings.Add($"{Quote(directive)}: tpt has no target {Quote(target)} (it maps tls_proxy_tunnel and its modules onto its own categories); the directive is ignored");
                continue;
            }

            foreach (var category in categories)
            {
                // The more specific target wins whatever the order (env_logger); a repeat of the same one replaces it.
                if (!rules.TryGetValue(category, out var existing) || existing.Specificity <= target.Length)
                {
                    rules[category] = (target.Length, level);
                }
            }
        }

        Cap(errors, "error");
        Cap(warnings, "warning");
        if (errors.Count > 0)
        {
            return new LogFilterParse(null, errors, warnings);
        }

        // env_logger logs nothing outside the named targets when the filter sets no default level.
        var filter = new LogFilter(
            fallback ?? LogLevel.None,
            rules.ToDictionary(r => r.Key, r => r.Value.Level, StringComparer.OrdinalIgnoreCase));
        return new LogFilterParse(filter, errors, warnings);
    }

    /// <summary>A filter of thousands of directives must not become thousands of messages.</summary>
    private static void Cap(List<string> messages, string kind)
    {
        if (messages.Count > MaxMessages)
        {
            var more = messages.Count - MaxMessages;
            messages.RemoveRange(MaxMessages, more);
            messages.Add($"and {more} more {kind}(s) like these");
        }
    }

    /// <summary>Directive text for a message: control characters escaped, long text cut.</summary>
    private static string Printable(string text)
    {
        var shown = text.Length > MaxShown ? text[..MaxShown] : text;
        var builder = new System.Text.StringBuilder(shown.Length);
        foreach (var c in shown)
        {
            if (char.IsControl(c))
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return text.Length > MaxShown ? builder.Append("...").ToString() : builder.ToString();
    }

    /// <summary>The categories a target stands for: a tls-proxy-tunnel module, or one of tpt's own categories.</summary>
    private static string[]? Categories(string target)
    {
        if (RustTargets.TryGetValue(target, out var mapped))
        {
            return mapped;
        }

        // A category name is an identifier path; anything else is no category of ours (and is not echoed raw by tpt check).
        var own = target.Equals(OwnCategories, StringComparison.OrdinalIgnoreCase)
            || (target.StartsWith(OwnCategories + ".", StringComparison.OrdinalIgnoreCase)
                && target.Length > OwnCategories.Length + 1
                && target.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_'));
        return own ? [target] : null;
    }

    /// <summary>Splits on commas outside brackets and braces: a span filter's fields (<c>[span{a=1,b=2}]</c>) contain commas.</summary>
    private static IEnumerable<string> SplitDirectives(string spec)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < spec.Length; i++)
        {
            switch (spec[i])
            {
                case '[' or '{':
                    depth++;
                    break;
                case ']' or '}':
                    depth = Math.Max(0, depth - 1);
                    break;
                case ',' when depth == 0:
                    yield return spec[start..i];
                    start = i + 1;
                    break;
            }
        }

        yield return spec[start..];
    }
}
