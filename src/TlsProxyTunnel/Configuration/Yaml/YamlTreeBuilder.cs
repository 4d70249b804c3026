using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace TlsProxyTunnel.Configuration.Yaml;

/// <summary>
/// Turns parser events into a <see cref="ConfigNode"/> tree, resolving anchors, aliases and merge keys.
/// Merge keys are applied here rather than through YamlDotNet's MergingParser so that the YAML merge
/// rule holds (a mapping's own keys override merged ones) while a key written twice in the same mapping is
/// still reported as a duplicate. The walk is iterative so deeply nested input cannot exhaust the stack.
/// </summary>
internal static partial class YamlTreeBuilder
{
    /// <summary>
    /// Far beyond any real configuration (which nests about 6 deep). YamlDotNet's scanner does work in proportion
    /// to the open nesting for every token, so unbounded nesting makes a small file take minutes to reject.
    /// </summary>
    internal const int MaxDepth = 64;

    /// <summary>
    /// Entries that merge keys may copy in the whole document. Aliases share one node, but a merge copies the
    /// source's entries into each mapping, so 600 keys merged into 600 servers are 360 000 entries from 32 KB
    /// of YAML. A real configuration merges a few hundred.
    /// </summary>
    internal const int MaxMergedEntries = 100_000;

    /// <param name="Root">The document's root node; null when the document is empty or unreadable.</param>
    /// <param name="Readable">False after a YAML syntax error, when nothing after it can be trusted.</param>
    internal sealed record Outcome(ConfigNode? Root, bool Readable);

    public static Outcome Build(string yaml, Func<string, string?> environment, DiagnosticBag diagnostics)
    {
        var parser = new ExpandingParser(new Parser(new StringReader(yaml)), environment, diagnostics);
        var anchors = new Dictionary<string, ConfigNode>(StringComparer.Ordinal);
        var open = new Stack<CollectionBuilder>();
        var mergeBudget = new MergeBudget();
        ConfigNode? root = null;
        var documents = 0;
        var lastGood = new Mark(0, 1, 1);
        try
        {
            while (parser.MoveNext())
            {
                lastGood = parser.Current!.End;
                ConfigNode? completed = null;
                string? anchor = null;
                switch (parser.Current)
                {
                    case DocumentStart start:
                        documents++;
                        if (documents > 1)
                        {
                            diagnostics.Error(start.Start, "only one YAML document is allowed in a configuration file");
                            return new Outcome(root, true);
                        }

                        break;
                    case Scalar scalar:
                        var origin = parser.Origins.GetValueOrDefault(scalar.Start.Index);
                        completed = new ConfigScalar(scalar.Start, scalar.Value, origin?.Raw ?? scalar.Value, origin?.Expanded ?? false, scalar.Style == ScalarStyle.Plain);
                        anchor = scalar.Anchor.IsEmpty ? null : scalar.Anchor.Value;
                        break;
                    case AnchorAlias alias:
                        if (!anchors.TryGetValue(alias.Value.Value, out completed))
                        {
                            diagnostics.Error(alias.Start, $"alias '*{alias.Value.Value}' refers to no anchor defined before it");
                            completed = new ConfigScalar(alias.Start, "", "", false, true);
                        }

                        break;
                    case MappingStart or SequenceStart when open.Count >= MaxDepth:
                        diagnostics.Error(parser.Current.Start, $"nesting deeper than {MaxDepth} levels; a configuration needs far fewer");
                        return new Outcome(null, false);
                    case MappingStart mapping:
                        open.Push(new MappingBuilder(mapping.Start, mapping.Anchor.IsEmpty ? null : mapping.Anchor.Value, diagnostics, mergeBudget));
                        break;
                    case SequenceStart sequence:
                        open.Push(new SequenceBuilder(sequence.Start, sequence.Anchor.IsEmpty ? null : sequence.Anchor.Value));
                        break;
                    case MappingEnd or SequenceEnd:
                        var builder = open.Pop();
                        completed = builder.Build();
                        anchor = builder.Anchor;
                        break;
                }

                if (completed is null)
                {
                    continue;
                }

                if (anchor is not null)
                {
                    // YAML lets a later anchor of the same name shadow an earlier one for the aliases after it.
                    anchors[anchor] = completed;
                }

                if (open.TryPeek(out var parent))
                {
                    parent.Add(completed);
                }
                else
                {
                    root = completed;
                }
            }
        }
        catch (YamlException e)
        {
            // YamlDotNet places tab errors at the start of the enclosing node (1:1 for a tab on line 9).
            if (e.Message.Contains("tab", StringComparison.OrdinalIgnoreCase) && IndentationTab(yaml) is { } tab)
            {
                diagnostics.Error(tab, TabMessage);
            }
            else
            {
                diagnostics.Error(e.Start, $"YAML syntax error: {CleanMessage(e.Message)}");
            }

            return new Outcome(null, false);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException or OverflowException or IndexOutOfRangeException)
        {
            // YamlDotNet's scanner throws these instead of a YamlException on some malformed input (a tab in the
            // indentation inside a flow collection is one); the tab, or else the last event it did produce, is
            // the best place we have.
            if (IndentationTab(yaml) is { } tab)
            {
                diagnostics.Error(tab, TabMessage);
            }
            else
            {
                diagnostics.Error(lastGood, $"YAML syntax error after this point: the document could not be parsed ({e.Message})");
            }

            return new Outcome(null, false);
        }

        return new Outcome(root, true);
    }

    private const string TabMessage = "YAML syntax error: a tab character in the indentation; YAML indents with spaces only";

    /// <summary>The first tab in the leading white space of a line that has content, or null.</summary>
    internal static Mark? IndentationTab(string yaml)
    {
        var line = 1;
        var lineStart = 0;
        while (lineStart <= yaml.Length)
        {
            var end = yaml.IndexOf('\n', lineStart);
            if (end < 0)
            {
                end = yaml.Length;
            }

            var i = lineStart;
            var tab = -1;
            while (i < end && yaml[i] is ' ' or '\t' or '\r')
            {
                if (yaml[i] == '\t' && tab < 0)
                {
                    tab = i;
                }

                i++;
            }

            if (tab >= 0 && i < end)
            {
                return new Mark(tab, line, tab - lineStart + 1);
            }

            line++;
            lineStart = end + 1;
        }

        return null;
    }

    /// <summary>YamlDotNet prefixes messages with "(Line: …) - (Line: …): "; the diagnostic already says where.</summary>
    private static string CleanMessage(string message) => PositionPrefix().Replace(message, "");

    [GeneratedRegex(@"^\(Line: [^)]*\) - \(Line: [^)]*\): ")]
    private static partial Regex PositionPrefix();

    private abstract class CollectionBuilder(Mark start, string? anchor)
    {
        public Mark Start { get; } = start;

        public string? Anchor { get; } = anchor;

        public abstract void Add(ConfigNode node);

        public abstract ConfigNode Build();
    }

    private sealed class SequenceBuilder(Mark start, string? anchor) : CollectionBuilder(start, anchor)
    {
        private readonly List<ConfigNode> _items = [];

        public override void Add(ConfigNode node) => _items.Add(node);

        public override ConfigNode Build() => new ConfigSequence(Start, _items);
    }

    private sealed class MergeBudget
    {
        public int Remaining { get; set; } = MaxMergedEntries;

        /// <summary>Set once the budget ran out and that was reported: later merges are skipped without a word.</summary>
        public bool Exhausted { get; set; }
    }

    private sealed class MappingBuilder(Mark start, string? anchor, DiagnosticBag diagnostics, MergeBudget budget) : CollectionBuilder(start, anchor)
    {
        private readonly List<ConfigMapping.Entry> _entries = [];
        private readonly Dictionary<string, ConfigScalar> _keys = new(StringComparer.Ordinal);
        private readonly List<(Mark Key, ConfigNode Value)> _merges = [];
        private ConfigNode? _pendingKey;

        public override void Add(ConfigNode node)
        {
            if (_pendingKey is null)
            {
                _pendingKey = node;
                return;
            }

            var keyNode = _pendingKey;
            _pendingKey = null;
            if (keyNode is not ConfigScalar key)
            {
                diagnostics.Error(keyNode.Start, $"a mapping key must be a single value, not {keyNode.Describe}");
                return;
            }

            if (key.IsPlain && key.Value == "<<")
            {
                _merges.Add((key.Start, node));
                return;
            }

            if (_keys.TryGetValue(key.Value, out var first))
            {
                diagnostics.Error(key.Start, $"duplicate key {DiagnosticText.Quote(key.Value)} (first given at line {first.Start.Line}, column {first.Start.Column})");
                return;
            }

            _keys.Add(key.Value, key);
            _entries.Add(new ConfigMapping.Entry(key, node));
        }

        public override ConfigNode Build()
        {
            foreach (var (mergeKey, merge) in _merges)
            {
                var sources = merge switch
                {
                    ConfigMapping mapping => [mapping],
                    ConfigSequence sequence when sequence.Items.All(i => i is ConfigMapping) => sequence.Items.Cast<ConfigMapping>().ToList(),
                    _ => null,
                };
                if (sources is null)
                {
                    diagnostics.Error(merge.Start, "a merge key '<<' takes an alias of a mapping (<<: *name) or a list of them");
                    continue;
                }

                // Earlier sources win over later ones, and the mapping's own keys over all of them.
                foreach (var entry in sources.SelectMany(s => s.Entries))
                {
                    if (budget.Remaining <= 0)
                    {
                        if (budget.Exhausted)
                        {
                            break;
                        }

                        budget.Exhausted = true;
                        diagnostics.Error(mergeKey, $"merge keys ('<<') in this file copy more than {MaxMergedEntries} entries in all; a configuration needs far fewer (the rest were not merged)");
                        break;
                    }

                    if (_keys.TryAdd(entry.Key.Value, entry.Key))
                    {
                        _entries.Add(entry);
                        budget.Remaining--;
                    }
                }
            }

            return new ConfigMapping(Start, _entries);
        }
    }
}
