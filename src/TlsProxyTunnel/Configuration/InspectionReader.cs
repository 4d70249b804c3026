using System.Text;
using TlsProxyTunnel.Configuration.Yaml;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Reads a server's <c>capture</c> and <c>filters</c> (prox.py's <c>-l</c> and <c>-m</c>). Filters are built-in
/// transforms named in the file, not code loaded from it.
/// </summary>
internal sealed class InspectionReader(ValueReader values, string baseDirectory)
{
    private static readonly IReadOnlyList<string> CaptureKeys = ["path", "mode"];

    private static readonly IReadOnlyList<string> FilterKeys = ["direction", "uppercase", "lowercase", "replace"];

    private static readonly IReadOnlyList<string> Transforms = ["uppercase", "lowercase", "replace"];

    private static readonly IReadOnlyList<string> ReplaceKeys = ["from", "to"];

    private static readonly Dictionary<string, CaptureMode> Modes = new(StringComparer.Ordinal)
    {
        ["truncate"] = CaptureMode.Truncate,
        ["append"] = CaptureMode.Append,
    };

    private static readonly Dictionary<string, FilterDirections> Directions = new(StringComparer.Ordinal)
    {
        ["i"] = FilterDirections.In,
        ["o"] = FilterDirections.Out,
        ["both"] = FilterDirections.Both,
    };

    // Latin-1 maps each character U+0000..U+00FF to the byte of that value, so "\xff" in YAML is the byte 0xff.
    private static readonly Encoding Bytes = Encoding.Latin1;

    private DiagnosticBag Diagnostics => values.Diagnostics;

    /// <summary><c>capture</c>: a mapping <c>{path, mode}</c>, or only the path.</summary>
    public CaptureSettings? ReadCapture(ConfigNode node, string what)
    {
        ConfigNode? pathNode = node;
        var mode = CaptureMode.Truncate;
        if (node is ConfigMapping)
        {
            if (Section.Open(node, $"'capture' of {what}", CaptureKeys, Diagnostics) is not { } section)
            {
                return null;
            }

            if (section.Get("mode") is { } modeNode)
            {
                if (values.Choice("mode", modeNode, Modes) is not { } chosen)
                {
                    return null;
                }

                mode = chosen;
            }

            pathNode = section.Get("path");
            if (pathNode is null)
            {
                Diagnostics.Error(node.Start, $"'capture' of {what} needs 'path': the file the capture is written to");
                return null;
            }
        }

        if (values.Scalar("path", pathNode, "a file path") is not { } scalar)
        {
            return null;
        }

        var text = scalar.Value.Trim();
        if (text.Length == 0 || text.Contains('\0', StringComparison.Ordinal))
        {
            Diagnostics.Error(scalar.Start, $"'capture.path' of {what} must be a file path, got {scalar.Shown}");
            return null;
        }

        var full = Path.GetFullPath(Path.Combine(baseDirectory, text));
        if (Directory.Exists(full))
        {
            Diagnostics.Error(scalar.Start, $"'capture.path' of {what} is a directory, not a file: {scalar.Shown}");
            return null;
        }

        if (Path.GetDirectoryName(full) is { } directory && !Directory.Exists(directory))
        {
            Diagnostics.Error(scalar.Start, $"'capture.path' of {what}: the directory of {scalar.Shown} does not exist");
            return null;
        }

        return new CaptureSettings(full, mode, scalar.Raw);
    }

    /// <summary><c>filters</c>: a list of <c>{direction, uppercase | lowercase | replace}</c>.</summary>
    public List<FilterSettings> ReadFilters(ConfigNode node, string what)
    {
        var filters = new List<FilterSettings>();
        if (node is not ConfigSequence sequence)
        {
            Diagnostics.Error(node.Start, $"'filters' of {what} must be a list such as [{{direction: o, uppercase: true}}], got {node.Describe}");
            return filters;
        }

        foreach (var item in sequence.Items)
        {
            if (ReadFilter(item, what) is { } filter)
            {
                filters.Add(filter);
            }
        }

        return filters;
    }

    private FilterSettings? ReadFilter(ConfigNode node, string what)
    {
        var name = $"an entry of 'filters' of {what}";
        if (Section.Open(node, name, FilterKeys, Diagnostics) is not { } section)
        {
            return null;
        }

        var directions = FilterDirections.Both;
        if (section.Get("direction") is { } directionNode)
        {
            if (values.Choice("direction", directionNode, Directions) is not { } chosen)
            {
                return null;
            }

            directions = chosen;
        }

        var transforms = Transforms.Where(k => section.Get(k) is not null).ToList();
        if (transforms.Count == 0 && section.Mapping.Entries.Any(e => !FilterKeys.Contains(e.Key.Value)))
        {
            // An unknown key (a misspelt transform, prox.py's module) was reported already.
            return null;
        }

        if (transforms.Count != 1)
        {
            var found = transforms.Count == 0 ? "none" : string.Join(", ", transforms);
            Diagnostics.Error(node.Start, $"{name} must name exactly one of uppercase, lowercase, replace (got {found}); filters are built in, prox.py's -m modules have no equivalent");
            return null;
        }

        switch (transforms[0])
        {
            case "uppercase" or "lowercase":
                var key = transforms[0];
                if (values.Bool(key, section.Get(key)!) is not { } on)
                {
                    return null;
                }

                if (!on)
                {
                    Diagnostics.Error(section.Get(key)!.Start, $"'{key}: false' in {name} does nothing; remove the entry");
                    return null;
                }

                return FilterSettings.Case(directions, key == "uppercase" ? FilterKind.Uppercase : FilterKind.Lowercase);

            default:
                return ReadReplace(section.Get("replace")!, directions, name);
        }
    }

    private FilterSettings? ReadReplace(ConfigNode node, FilterDirections directions, string name)
    {
        if (Section.Open(node, $"'replace' of {name}", ReplaceKeys, Diagnostics) is not { } section)
        {
            return null;
        }

        var from = section.Get("from") is { } fromNode ? ReadBytes("from", fromNode) : null;
        var to = section.Get("to") is { } toNode ? ReadBytes("to", toNode) : section.Entry("to") is not null ? [] : null;
        if (section.Get("from") is null)
        {
            Diagnostics.Error(node.Start, $"'replace' of {name} needs 'from': the bytes to look for");
            return null;
        }

        if (section.Entry("to") is null)
        {
            Diagnostics.Error(node.Start, $"'replace' of {name} needs 'to': what replaces them (\"\" removes them)");
            return null;
        }

        if (from is null || to is null)
        {
            return null;
        }

        if (from.Length == 0)
        {
            Diagnostics.Error(section.Get("from")!.Start, $"'replace.from' of {name} must not be empty");
            return null;
        }

        return new FilterSettings(directions, FilterKind.Replace, from, to);
    }

    private byte[]? ReadBytes(string key, ConfigNode node)
    {
        if (values.Scalar(key, node, "a text (\\xNN escapes in double quotes for other bytes)") is not { } scalar)
        {
            return null;
        }

        if (scalar.Value.Any(c => c > '\u00ff'))
        {
            Diagnostics.Error(scalar.Start, $"'{key}' holds characters beyond one byte; write each byte as \\xNN in a double-quoted string, got {scalar.Shown}");
            return null;
        }

        return Bytes.GetBytes(scalar.Value);
    }
}
