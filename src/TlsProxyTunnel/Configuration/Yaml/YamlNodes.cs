using YamlDotNet.Core;

namespace TlsProxyTunnel.Configuration.Yaml;

/// <summary>
/// A small node tree that keeps what the loader needs and YamlDotNet's representation model does not:
/// the text as written before environment expansion, and whether expansion happened.
/// </summary>
internal abstract class ConfigNode(Mark start)
{
    public Mark Start { get; } = start;

    public abstract string Describe { get; }
}

internal sealed class ConfigScalar(Mark start, string value, string raw, bool expanded, bool isPlain) : ConfigNode(start)
{
    /// <summary>The value after environment expansion.</summary>
    public string Value { get; } = value;

    /// <summary>The value as the file wrote it; safe to log.</summary>
    public string Raw { get; } = raw;

    /// <summary>A variable reference was substituted, so <see cref="Value"/> may be secret.</summary>
    public bool Expanded { get; } = expanded;

    public bool IsPlain { get; } = isPlain;

    /// <summary>YAML null: an empty or <c>~</c>/<c>null</c> plain scalar written as such (not produced by expansion).</summary>
    public bool IsNull => IsPlain && !Expanded && Raw is "" or "~" or "null" or "Null" or "NULL";

    public override string Describe => IsNull ? "nothing (null)" : "a single value";

    /// <summary>The value for an error message: never the expanded text, which may be a secret; escaped and cut.</summary>
    public string Shown => Expanded ? $"{DiagnosticText.Quote(Raw)} (value from the environment not shown)" : DiagnosticText.Quote(Raw);

    /// <summary>How parsers of this value may show its parts in a message.</summary>
    public ValueEcho Echo => new(Expanded);

    /// <summary>The value where <c>tpt check</c> shows it: as written when it came from the environment.</summary>
    public string Display => Expanded ? Raw : Value;
}

internal sealed class ConfigSequence(Mark start, IReadOnlyList<ConfigNode> items) : ConfigNode(start)
{
    public IReadOnlyList<ConfigNode> Items { get; } = items;

    public override string Describe => "a list";
}

internal sealed class ConfigMapping(Mark start, IReadOnlyList<ConfigMapping.Entry> entries) : ConfigNode(start)
{
    internal sealed record Entry(ConfigScalar Key, ConfigNode Value);

    /// <summary>Entries in file order, merge-key entries after the mapping's own.</summary>
    public IReadOnlyList<Entry> Entries { get; } = entries;

    public override string Describe => "a mapping";
}
