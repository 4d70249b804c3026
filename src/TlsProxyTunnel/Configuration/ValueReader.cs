using System.Globalization;
using TlsProxyTunnel.Configuration.Yaml;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Converts nodes to typed values, reporting a type error (key, position, expected type, value as written)
/// instead of throwing. Every method returns null after reporting, so callers keep their default and go on.
/// </summary>
internal sealed class ValueReader(DiagnosticBag diagnostics)
{
    public DiagnosticBag Diagnostics { get; } = diagnostics;

    public ConfigScalar? Scalar(string key, ConfigNode node, string expected)
    {
        if (node is ConfigScalar scalar)
        {
            return scalar;
        }

        Diagnostics.Error(node.Start, $"'{key}' must be {expected}, got {node.Describe}");
        return null;
    }

    /// <summary>Any scalar as text, like tls-proxy-tunnel: <c>true</c> or <c>8</c> become "true" and "8".</summary>
    public string? String(string key, ConfigNode node) => Scalar(key, node, "a text value")?.Value;

    public int? Int(string key, ConfigNode node, int minimum, int maximum)
    {
        if (Scalar(key, node, "a whole number") is not { } scalar)
        {
            return null;
        }

        var text = scalar.Value.Trim();
        if (text.Length == 0 || text.Length > 11 || !int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            Diagnostics.Error(scalar.Start, $"'{key}' must be a whole number, got {scalar.Shown}");
            return null;
        }

        if (value < minimum || value > maximum)
        {
            var range = maximum == int.MaxValue ? $"at least {minimum}"
                : maximum == minimum + 1 ? $"{minimum} or {maximum}"
                : $"from {minimum} to {maximum}";
            Diagnostics.Error(scalar.Start, $"'{key}' must be {range}, got {scalar.Shown}");
            return null;
        }

        return value;
    }

    public bool? Bool(string key, ConfigNode node)
    {
        if (Scalar(key, node, "true or false") is not { } scalar)
        {
            return null;
        }

        if (bool.TryParse(scalar.Value.Trim(), out var value))
        {
            return value;
        }

        Diagnostics.Error(scalar.Start, $"'{key}' must be true or false, got {scalar.Shown}");
        return null;
    }

    /// <summary>A positive duration. With <paramref name="allowOff"/>, <c>off</c> or a zero duration mean "off" and give <see cref="TimeSpan.Zero"/>.</summary>
    public TimeSpan? Duration(string key, ConfigNode node, bool allowOff = false)
    {
        var expected = allowOff ? $"{DurationParser.ExpectedForm}, or 'off'" : DurationParser.ExpectedForm;
        if (Scalar(key, node, expected) is not { } scalar)
        {
            return null;
        }

        var text = scalar.Value.Trim();
        if (allowOff && text.Equals("off", StringComparison.OrdinalIgnoreCase))
        {
            return TimeSpan.Zero;
        }

        if (!DurationParser.TryParse(text, out var value))
        {
            var bare = text.Length > 0 && text.All(char.IsAsciiDigit) ? " (a bare number has no unit)" : "";
            Diagnostics.Error(scalar.Start, $"'{key}' must be {expected}, got {scalar.Shown}{bare}");
            return null;
        }

        if (value == TimeSpan.Zero && allowOff)
        {
            return TimeSpan.Zero;
        }

        if (value <= TimeSpan.Zero)
        {
            Diagnostics.Error(scalar.Start, $"'{key}' must be longer than zero{(allowOff ? " (write 'off' to turn it off)" : "")}, got {scalar.Shown}");
            return null;
        }

        if (value > DurationParser.Maximum)
        {
            Diagnostics.Error(scalar.Start, $"'{key}' must be at most 24 days, got {scalar.Shown}");
            return null;
        }

        return value;
    }

    public T? Choice<T>(string key, ConfigNode node, IReadOnlyDictionary<string, T> choices)
        where T : struct
    {
        var names = string.Join(", ", choices.Keys);
        if (Scalar(key, node, $"one of {names}") is not { } scalar)
        {
            return null;
        }

        if (choices.TryGetValue(scalar.Value.Trim().ToLowerInvariant(), out var value))
        {
            return value;
        }

        Diagnostics.Error(scalar.Start, $"'{key}' must be one of {names}, got {scalar.Shown}{(scalar.Expanded ? "" : KeySuggester.Hint(scalar.Value, choices.Keys))}");
        return null;
    }
}
