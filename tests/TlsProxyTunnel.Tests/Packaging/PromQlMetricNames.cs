using System.Text.RegularExpressions;

namespace TlsProxyTunnel.Tests.Packaging;

/// <summary>
/// The metric names a PromQL expression (as written in a Grafana panel, variable or alert rule) reads. Not a
/// parser: it removes what cannot be a metric name (strings, label matchers, ranges, grouping label lists,
/// Grafana variables, numbers and durations) and keeps the identifiers that are not functions or keywords.
/// </summary>
internal static partial class PromQlMetricNames
{
    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan", "atan2",
    };

    public static IReadOnlyList<string> Of(string expression)
    {
        // Grafana's variable query label_values(METRIC_EXPR, LABEL): only the first argument is PromQL.
        if (LabelValues().Match(expression) is { Success: true } labelValues)
        {
            return labelValues.Groups[1].Value.Length == 0 ? [] : Of(labelValues.Groups[1].Value);
        }

        var text = StringLiteral().Replace(expression, " ");
        text = Braces().Replace(text, " ");
        text = Brackets().Replace(text, " ");
        text = GroupingLabels().Replace(text, " ");
        text = GrafanaVariable().Replace(text, " ");
        return Identifier().Matches(text)
            .Where(m => !text.AsSpan(m.Index + m.Length).TrimStart().StartsWith('('))
            .Select(m => m.Value)
            .Where(name => !Keywords.Contains(name.ToLowerInvariant()))
            .Distinct(StringComparer.Ordinal)
            .ToList();
    }

    [GeneratedRegex(@"^\s*label_values\(\s*(?:(.*?)\s*,\s*)?[a-zA-Z_]\w*\s*\)\s*$", RegexOptions.Singleline)]
    private static partial Regex LabelValues();

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")]
    private static partial Regex StringLiteral();

    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex Braces();

    [GeneratedRegex(@"\[[^\]]*\]")]
    private static partial Regex Brackets();

    [GeneratedRegex(@"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", RegexOptions.IgnoreCase)]
    private static partial Regex GroupingLabels();

    [GeneratedRegex(@"\$\{[^}]*\}|\$\w+")]
    private static partial Regex GrafanaVariable();

    [GeneratedRegex(@"(?<![\w.$:])[a-zA-Z_:][a-zA-Z0-9_:]*")]
    private static partial Regex Identifier();
}
