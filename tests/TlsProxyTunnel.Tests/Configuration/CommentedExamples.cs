using System.Text.RegularExpressions;

namespace TlsProxyTunnel.Tests.Configuration;

/// <summary>
/// The commented-out examples of a configuration file, found the way its header tells a reader: a line
/// <c># example: NAME</c>, then a block of lines commented out with <c>#</c> at the marker's indentation. Uncommenting
/// removes that <c>#</c> and one space from each line of the block (nested <c># ...</c> lines stay comments).
/// </summary>
internal static partial class CommentedExamples
{
    /// <summary>The example names, in file order, each once.</summary>
    public static IReadOnlyList<string> Names(string text) =>
        Lines(text).Select(l => Marker().Match(l)).Where(m => m.Success).Select(m => m.Groups["name"].Value).Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>The text with every block of example <paramref name="name"/> uncommented, and only those.</summary>
    public static string Uncomment(string text, string name)
    {
        var lines = Lines(text);
        var blocks = 0;
        for (var i = 0; i < lines.Length; i++)
        {
            var marker = Marker().Match(lines[i]);
            if (!marker.Success || marker.Groups["name"].Value != name)
            {
                continue;
            }

            var indent = marker.Groups["indent"].Value;
            var end = i + 1;
            for (; end < lines.Length && !Marker().IsMatch(lines[end]); end++)
            {
                if (lines[end] == indent + "#")
                {
                    lines[end] = "";
                }
                else if (lines[end].StartsWith(indent + "# ", StringComparison.Ordinal))
                {
                    lines[end] = indent + lines[end][(indent.Length + 2)..];
                }
                else
                {
                    break;
                }
            }

            Assert.True(end > i + 1, $"line {i + 1}: 'example: {name}' is not followed by a commented-out block");
            blocks++;
        }

        Assert.True(blocks > 0, $"no '# example: {name}' line");
        return string.Join('\n', lines);
    }

    private static string[] Lines(string text) => text.ReplaceLineEndings("\n").Split('\n');

    [GeneratedRegex(@"^(?<indent> *)# example: (?<name>[A-Za-z0-9_-]+)\s*$")]
    private static partial Regex Marker();
}
