using System.Security;
using TlsProxyTunnel.Configuration.Yaml;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Reads a configuration file into a validated <see cref="ProxyConfig"/>. Never throws for bad input: every
/// problem, with file, line and column, is in the result, and all of them are reported at once.
/// </summary>
internal static class ConfigLoader
{
    /// <param name="time">The clock certificates' expiry is checked against; the system's when null.</param>
    /// <param name="linuxSupported">Whether the Linux engine can run; <see cref="Engine.Linux.LinuxEngine.IsSupported"/> when null.</param>
    public static ConfigLoadResult Load(string path, Func<string, string?> environment, TimeProvider? time = null, bool? linuxSupported = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        string? text;
        try
        {
            text = ReadBounded(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SecurityException or ArgumentException or NotSupportedException)
        {
            var diagnostics = new DiagnosticBag(path);
            var reason = Directory.Exists(path) ? "it is a directory, not a file"
                : e is FileNotFoundException or DirectoryNotFoundException ? "the file does not exist"
                : e.Message;
            diagnostics.FileError($"cannot read the configuration file: {reason}");
            return new ConfigLoadResult(null, diagnostics.Items, diagnostics.ErrorCount);
        }

        if (text is null)
        {
            var diagnostics = new DiagnosticBag(path);
            diagnostics.FileError($"the configuration file is larger than {MaxFileBytes / (1024 * 1024)} MiB; is it the right file?");
            return new ConfigLoadResult(null, diagnostics.Items, diagnostics.ErrorCount);
        }

        return LoadText(text, path, environment, time, linuxSupported: linuxSupported);
    }

    /// <summary>Far above any real configuration; a bound so a wrong path (a log, a disk image) cannot exhaust memory.</summary>
    internal const int MaxFileBytes = 16 * 1024 * 1024;

    /// <summary>The file's text, or null when it holds more than <see cref="MaxFileBytes"/> (pipes included).</summary>
    private static string? ReadBounded(string path)
    {
        if (new FileInfo(path) is { Exists: true, Length: > MaxFileBytes })
        {
            return null;
        }

        // Counted while reading too: a FIFO or /proc file reports no length.
        using var reader = new StreamReader(path, detectEncodingFromByteOrderMarks: true);
        var text = new System.Text.StringBuilder();
        var chunk = new char[16 * 1024];
        int read;
        while ((read = reader.Read(chunk, 0, chunk.Length)) > 0)
        {
            text.Append(chunk, 0, read);
            if (text.Length > MaxFileBytes)
            {
                return null;
            }
        }

        return text.ToString();
    }

    /// <param name="yaml">The file's contents.</param>
    /// <param name="displayPath">The name diagnostics and <see cref="ProxyConfig.SourcePath"/> use.</param>
    /// <param name="environment">Variable lookup for <c>$VAR</c> expansion; null means unset.</param>
    /// <param name="time">The clock certificates' expiry is checked against; the system's when null.</param>
    /// <param name="baseDirectory">What relative certificate and key paths resolve against; the directory of <paramref name="displayPath"/> when null.</param>
    /// <param name="linuxSupported">Whether the Linux engine can run (<c>engine: linux</c> is an error where not); <see cref="Engine.Linux.LinuxEngine.IsSupported"/> when null.</param>
    public static ConfigLoadResult LoadText(string yaml, string displayPath, Func<string, string?> environment, TimeProvider? time = null, string? baseDirectory = null, bool? linuxSupported = null)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(environment);
        var diagnostics = new DiagnosticBag(displayPath);
        var tree = YamlTreeBuilder.Build(yaml, environment, diagnostics);
        if (!tree.Readable)
        {
            return new ConfigLoadResult(null, diagnostics.Items, diagnostics.ErrorCount);
        }

        var mapped = ConfigMapper.Map(tree.Root, displayPath, diagnostics, baseDirectory ?? DirectoryOf(displayPath), time ?? TimeProvider.System, linuxSupported ?? Engine.Linux.LinuxEngine.IsSupported);
        ConfigValidator.Validate(mapped, diagnostics);
        return new ConfigLoadResult(diagnostics.HasErrors ? null : mapped.Config, diagnostics.Items, diagnostics.ErrorCount);
    }

    /// <summary>
    /// The directory of the configuration file as given (a symlink's own directory, not its target's: a Kubernetes
    /// ConfigMap mounts the file and its certificates side by side through links).
    /// </summary>
    private static string DirectoryOf(string path)
    {
        try
        {
            return Path.GetDirectoryName(Path.GetFullPath(path)) ?? Directory.GetCurrentDirectory();
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException or IOException)
        {
            return Directory.GetCurrentDirectory();
        }
    }
}
