using System.Text.Json;
using System.Text.RegularExpressions;

namespace TlsProxyTunnel.IntegrationTests.Packaging;

/// <summary>One Dockerfile instruction: its keyword (upper case), flags (<c>--from=build</c>) and remaining words.</summary>
public sealed record DockerInstruction(string Keyword, string Arguments, IReadOnlyList<string> Flags, IReadOnlyList<string> Words, int Line);

public sealed record DockerStage(string? Name, string Image, IReadOnlyList<DockerInstruction> Instructions);

/// <summary>
/// Just enough of the Dockerfile grammar for the checks a build would otherwise make: continuation lines,
/// comments, stages, flags. Words split on white space, which is all this repository's Dockerfile needs.
/// </summary>
public sealed partial class Dockerfile
{
    private Dockerfile(IReadOnlyList<DockerStage> stages) => Stages = stages;

    public IReadOnlyList<DockerStage> Stages { get; }

    public DockerStage Final => Stages[^1];

    public static Dockerfile Load(string path)
    {
        var stages = new List<DockerStage>();
        List<DockerInstruction>? current = null;
        string? name = null, image = null;
        foreach (var instruction in Instructions(File.ReadAllLines(path)))
        {
            if (instruction.Keyword == "FROM")
            {
                if (current is not null)
                {
                    stages.Add(new DockerStage(name, image!, current));
                }

                current = [];
                image = instruction.Words[0];
                name = instruction.Words.Count >= 3 && instruction.Words[1].Equals("AS", StringComparison.OrdinalIgnoreCase) ? instruction.Words[2] : null;
                continue;
            }

            Assert.True(current is not null, $"{path}:{instruction.Line}: {instruction.Keyword} before the first FROM");
            current.Add(instruction);
        }

        Assert.True(current is not null, $"{path} has no FROM");
        stages.Add(new DockerStage(name, image!, current));
        return new Dockerfile(stages);
    }

    /// <summary>The exec form of ENTRYPOINT/CMD (<c>["a", "b"]</c>); null for the shell form.</summary>
    public static string[]? ExecForm(DockerInstruction instruction)
    {
        var text = instruction.Arguments.Trim();
        return text.StartsWith('[') ? JsonSerializer.Deserialize<string[]>(text) : null;
    }

    private static IEnumerable<DockerInstruction> Instructions(string[] lines)
    {
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (IsBlankOrComment(line))
            {
                continue;
            }

            var start = i + 1;
            var text = line.TrimEnd();
            // A trailing backslash continues the instruction; comment lines inside it are dropped, as Docker does.
            while (text.EndsWith('\\') && i + 1 < lines.Length)
            {
                text = text[..^1];
                i++;
                if (!lines[i].TrimStart().StartsWith('#'))
                {
                    text += " " + lines[i].Trim();
                }
            }

            var match = InstructionLine().Match(text);
            Assert.True(match.Success, $"Dockerfile line {start} is not an instruction: {text}");
            var arguments = match.Groups[2].Value;
            var words = arguments.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            var flags = words.TakeWhile(w => w.StartsWith("--", StringComparison.Ordinal)).ToArray();
            yield return new DockerInstruction(match.Groups[1].Value.ToUpperInvariant(), arguments, flags, words[flags.Length..], start);
        }
    }

    private static bool IsBlankOrComment(string line) => line.Trim().Length == 0 || line.TrimStart().StartsWith('#');

    [GeneratedRegex(@"^\s*([A-Za-z]+)\s+(.*)$")]
    private static partial Regex InstructionLine();
}
