namespace TlsProxyTunnel.Hosting;

/// <summary>
/// What can be learnt about a file without reading it: the file a symlink chain ends at (a ConfigMap swap changes
/// it), its size and its modification time. Two equal stamps a settle period apart mean nobody wrote in between.
/// </summary>
internal readonly record struct FileStamp(string? Target, long Length, DateTime LastWriteUtc)
{
    public static readonly FileStamp Missing = new(null, -1, default);

    public static FileStamp Of(string path)
    {
        try
        {
            var target = File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? Path.GetFullPath(path);
            var info = new FileInfo(target);
            return info.Exists ? new FileStamp(target, info.Length, info.LastWriteTimeUtc) : Missing;
        }
        catch (IOException)
        {
            return Missing;
        }
        catch (UnauthorizedAccessException)
        {
            return Missing;
        }
    }
}
