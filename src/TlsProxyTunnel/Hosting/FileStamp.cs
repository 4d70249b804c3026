namespace TlsProxyTunnel.Hosting;

/// <summary>
/// What can be learnt about a file without reading it: the file a symlink chain ends at (a ConfigMap swap changes
/// it), its size and its modification time. Two equal stamps a settle period apart mean nobody wrote in between.
/// </summary>
internal readonly record struct FileStamp(string? Target, long Length, DateTime LastWriteUtc)
{
    public static readonly FileStamp Missing = new(null, -1, default);

    /// <summary>
    /// One stamp for a set of files (the configuration and the certificates it names): it changes when any file's
    /// target, size or modification time does.
    /// </summary>
    public static FileStamp Of(IReadOnlyList<string> paths)
    {
        if (paths.Count == 1)
        {
            return Of(paths[0]);
        }

        var targets = new List<string?>(paths.Count);
        long length = 0;
        var latest = default(DateTime);
        foreach (var path in paths)
        {
            var stamp = Of(path);
            targets.Add(stamp.Target);
            length = unchecked((length * 31) + stamp.Length);
            latest = stamp.LastWriteUtc > latest ? stamp.LastWriteUtc : latest;
        }

        return new FileStamp(string.Join('\n', targets), length, latest);
    }

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
