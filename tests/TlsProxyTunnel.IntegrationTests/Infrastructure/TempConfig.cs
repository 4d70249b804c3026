namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>A configuration file in its own temporary directory, removed on dispose.</summary>
public sealed class TempConfig : IDisposable
{
    public TempConfig(string yaml)
    {
        Directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"tpt-test-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(Directory);
        Path = System.IO.Path.Combine(Directory, "tpt.yaml");
        File.WriteAllText(Path, yaml);
    }

    public string Directory { get; }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
