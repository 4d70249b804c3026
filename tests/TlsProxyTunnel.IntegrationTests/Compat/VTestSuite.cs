namespace TlsProxyTunnel.IntegrationTests.Compat;

/// <summary>
/// tls-proxy-tunnel's VTest functional suite, unmodified in ../shared/reference/tls-proxy-tunnel-configs/tests/vtest (shared/ sits beside the
/// repository on every developer machine and in CI),
/// copied for a run with the one change its README gives for Debian's varnishtest.
/// </summary>
public static class VTestSuite
{
    public static readonly string Directory =
        Path.Combine(Repository.Root, "..", "shared", "reference", "tls-proxy-tunnel-configs", "tests", "vtest");

    /// <summary>The file names, in the order the suite numbers them.</summary>
    public static IReadOnlyList<string> Files { get; } =
        System.IO.Directory.EnumerateFiles(Directory, "*.vtc").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Writes <paramref name="file"/> into a new temporary directory, as the README's
    /// <c>sed -i '1s/^vtest /varnishtest /'</c> would leave it, after <paramref name="edit"/>; returns its path.
    /// </summary>
    public static string Copy(string file, Func<string, string>? edit = null)
    {
        var text = File.ReadAllText(Path.Combine(Directory, file));
        Assert.True(text.StartsWith("vtest ", StringComparison.Ordinal), $"{file} does not start with 'vtest ': the README's sed would not apply");
        text = "varnishtest " + text["vtest ".Length..];
        if (edit is not null)
        {
            text = edit(text);
        }

        var path = Path.Combine(System.IO.Directory.CreateTempSubdirectory("tpt-vtest-").FullName, file);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>The text before the single occurrence of <paramref name="marker"/>; fails if there is none or more than one.</summary>
    public static string CutFrom(string text, string marker) => text[..IndexOfOnce(text, marker)];

    /// <summary>Replaces the single occurrence of <paramref name="oldText"/>; fails if there is none or more than one.</summary>
    public static string ReplaceOnce(string text, string oldText, string newText)
    {
        var at = IndexOfOnce(text, oldText);
        return string.Concat(text.AsSpan(0, at), newText, text.AsSpan(at + oldText.Length));
    }

    private static int IndexOfOnce(string text, string value)
    {
        var at = text.IndexOf(value, StringComparison.Ordinal);
        Assert.True(at >= 0 && text.IndexOf(value, at + 1, StringComparison.Ordinal) < 0, $"expected exactly one occurrence of:\n{value}");
        return at;
    }
}
