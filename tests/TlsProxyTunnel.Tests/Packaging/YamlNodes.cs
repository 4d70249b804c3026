using YamlDotNet.RepresentationModel;

namespace TlsProxyTunnel.Tests.Packaging;

/// <summary>Strict lookups in parsed manifests: a missing key fails with the key and the line it was expected at.</summary>
internal static class YamlNodes
{
    public static bool Has(YamlMappingNode node, string key) => node.Children.ContainsKey(key);

    public static YamlMappingNode Map(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(key, out var child) && child is YamlMappingNode map ? map : throw new KeyNotFoundException($"no mapping '{key}' at line {node.Start.Line}");

    public static IEnumerable<YamlNode> Seq(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(key, out var child) && child is YamlSequenceNode seq ? seq.Children : throw new KeyNotFoundException($"no list '{key}' at line {node.Start.Line}");

    /// <summary>The mappings of a list that may be absent (no containers, no env).</summary>
    public static IEnumerable<YamlMappingNode> Items(YamlMappingNode node, string key) =>
        Has(node, key) ? Seq(node, key).Cast<YamlMappingNode>() : [];

    public static IEnumerable<string> Strings(YamlMappingNode node, string key) =>
        Seq(node, key).Select(n => ((YamlScalarNode)n).Value!);

    public static string Text(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(key, out var child) && child is YamlScalarNode scalar ? scalar.Value! : throw new KeyNotFoundException($"no value '{key}' at line {node.Start.Line}");

    public static int Int(YamlMappingNode node, string key) =>
        int.Parse(Text(node, key), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A mapping of scalars (labels, selectors, annotations) at the end of <paramref name="path"/>.</summary>
    public static Dictionary<string, string> Labels(YamlMappingNode node, params string[] path) =>
        path.Aggregate(node, Map).Children.ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value!);

    public static IEnumerable<YamlNode> LoadDocuments(TextReader reader)
    {
        var stream = new YamlStream();
        stream.Load(reader);
        return stream.Documents.Select(d => d.RootNode);
    }
}
