using TlsProxyTunnel.Configuration.Yaml;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// One YAML mapping read against the keys it may hold. Unknown keys are reported when the section is
/// opened (tls-proxy-tunnel ignored them, which hid typos such as <c>maxclient</c>).
/// </summary>
internal sealed class Section
{
    private readonly Dictionary<string, ConfigMapping.Entry> _entries = new(StringComparer.Ordinal);

    private Section(ConfigMapping mapping)
    {
        Mapping = mapping;
    }

    public ConfigMapping Mapping { get; }

    /// <summary><paramref name="node"/> as a mapping, or null after the error "<paramref name="expected"/>, got …".</summary>
    public static ConfigMapping? MappingOf(ConfigNode node, string expected, DiagnosticBag diagnostics)
    {
        if (node is ConfigMapping mapping)
        {
            return mapping;
        }

        diagnostics.Error(node.Start, $"{expected}, got {node.Describe}");
        return null;
    }

    /// <summary>
    /// Opens <paramref name="node"/> as a mapping with the given keys. Returns null (after an error) when it is
    /// not a mapping. <paramref name="synonyms"/> maps accepted alternative spellings to their key.
    /// </summary>
    public static Section? Open(ConfigNode node, string what, IReadOnlyList<string> keys, DiagnosticBag diagnostics, IReadOnlyDictionary<string, string>? synonyms = null)
    {
        if (MappingOf(node, $"{what} must be a mapping (key: value lines)", diagnostics) is not { } mapping)
        {
            return null;
        }

        var section = new Section(mapping);
        foreach (var entry in mapping.Entries)
        {
            // A mapping merged into many others brings its keys along: each mistake is reported once, at the key,
            // and the checks (a suggestion costs an edit distance per key) are not repeated for each merge.
            if (diagnostics.IsReported(entry.Key.Start))
            {
                continue;
            }

            var name = entry.Key.Value;
            if (synonyms is not null && synonyms.TryGetValue(name, out var canonical))
            {
                if (section._entries.TryGetValue(canonical, out var other))
                {
                    diagnostics.Error(entry.Key.Start, $"{DiagnosticText.Quote(name)} and {DiagnosticText.Quote(other.Key.Value)} are the same setting; give only one");
                    continue;
                }

                name = canonical;
            }

            if (!keys.Contains(name))
            {
                var hint = KeySuggester.Closest(name, keys) is { } closest
                    ? $"; did you mean {DiagnosticText.Quote(closest)}?"
                    : $"; expected one of: {string.Join(", ", keys)}";
                diagnostics.Error(entry.Key.Start, $"unknown key {DiagnosticText.Quote(entry.Key.Value)} in {what}{hint}");
                continue;
            }

            if (!section._entries.TryAdd(name, entry))
            {
                diagnostics.Error(entry.Key.Start, $"{DiagnosticText.Quote(entry.Key.Value)} and {DiagnosticText.Quote(section._entries[name].Key.Value)} are the same setting; give only one");
            }
        }

        return section;
    }

    /// <summary>The value of <paramref name="key"/>, or null when absent or YAML null (so the default applies).</summary>
    public ConfigNode? Get(string key) =>
        _entries.TryGetValue(key, out var entry) && entry.Value is not ConfigScalar { IsNull: true } ? entry.Value : null;

    public ConfigMapping.Entry? Entry(string key) => _entries.GetValueOrDefault(key);

    // The key read and the key its diagnostics name are one argument, so they cannot drift apart.
    public bool? Bool(string key, ValueReader values) => Get(key) is { } node ? values.Bool(key, node) : null;

    public int? Int(string key, ValueReader values, int minimum, int maximum) => Get(key) is { } node ? values.Int(key, node, minimum, maximum) : null;

    public TimeSpan? Duration(string key, ValueReader values, bool allowOff = false) => Get(key) is { } node ? values.Duration(key, node, allowOff) : null;
}
