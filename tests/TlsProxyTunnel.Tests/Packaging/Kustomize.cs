using System.Diagnostics;
using YamlDotNet.RepresentationModel;

namespace TlsProxyTunnel.Tests.Packaging;

/// <summary>
/// Renders a kustomization with <c>kubectl kustomize</c>, offline, as <c>kubectl apply -k</c> would build it: the
/// tests check what a cluster receives, not the files' pieces (patches, name suffixes and labels change it).
/// </summary>
internal static class Kustomize
{
    /// <summary>A cold start of kubectl on a loaded 2-core machine takes a second or two; this is the hang bound.</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private const string Requirement =
        "kubectl with kustomize v4.2 or later (kubectl 1.22+: the kustomizations use 'labels:' and 'patches:'). " +
        "The machine image has one (/usr/bin/kubectl); Debian's kubernetes-client (1.20, kustomize v2) cannot render them.";

    public static List<YamlMappingNode> Render(string directory)
    {
        var kubectl = FindOnPath("kubectl")
            ?? throw new InvalidOperationException($"kubectl is not on PATH, so {directory} cannot be rendered. Needs {Requirement}");
        var start = new ProcessStartInfo(kubectl)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("kustomize");
        start.ArgumentList.Add(directory);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {kubectl}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"kubectl kustomize {directory} did not finish within {Timeout.TotalSeconds} s");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"kubectl kustomize {directory} failed (exit {process.ExitCode}):\n{error.Result}\nNeeds {Requirement}");
        }

        using var reader = new StringReader(output.Result);
        return YamlNodes.LoadDocuments(reader).Cast<YamlMappingNode>().ToList();
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}
