namespace TlsProxyTunnel.TestSupport;

/// <summary>The checkout the tests run from, found upwards from the test binaries; compiled into both test projects.</summary>
public static class Repository
{
    public static readonly string Root = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "TlsProxyTunnel.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no TlsProxyTunnel.sln above {AppContext.BaseDirectory}");
    }
}
