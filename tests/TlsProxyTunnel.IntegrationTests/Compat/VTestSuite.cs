namespace TlsProxyTunnel.IntegrationTests.Compat;

/// <summary>
/// tls-proxy-tunnel's VTest functional suite, unmodified in ../shared/reference/tls-proxy-tunnel-configs/tests/vtest (shared/ sits beside the
/// repository on every developer machine and in CI),
/// copied for a run with the one change its README gives for Debian's varnishtest.
/// </summary>
public static partial class VTestSuite
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

        text = WithFreePorts(text);
        var path = Path.Combine(System.IO.Directory.CreateTempSubdirectory("tpt-vtest-").FullName, file);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>
    /// The suite binds fixed ports 55800-55899, inside Linux's ephemeral range: after a test that made many
    /// connections, a TIME_WAIT socket on one of them makes its backend's bind fail ("address already in use").
    /// Each port the file names is replaced by one the OS hands out now, the same one at every occurrence.
    /// </summary>
    private static string WithFreePorts(string text)
    {
        var ports = FixedPort().Matches(text).Select(m => m.Value).Distinct(StringComparer.Ordinal).ToArray();
        var holders = ports.Select(_ =>
        {
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
            return socket;
        }).ToArray();
        var map = ports.Zip(holders, (port, socket) => (port, free: ((System.Net.IPEndPoint)socket.LocalEndPoint!).Port.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            .ToDictionary(p => p.port, p => p.free, StringComparer.Ordinal);
        foreach (var socket in holders)
        {
            socket.Dispose();
        }

        return FixedPort().Replace(text, m => map[m.Value]);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"(?<![0-9])558[0-9]{2}(?![0-9])")]
    private static partial System.Text.RegularExpressions.Regex FixedPort();

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
