namespace TlsProxyTunnel.Cli;

/// <summary>The chosen configuration file, or why none could be chosen.</summary>
internal sealed record ConfigFileLocation(string? Path, string? Error);

internal static class ConfigFileLocator
{
    public const string EnvironmentVariable = "TPT_CONFIG";

    public static readonly IReadOnlyList<string> DefaultPaths =
    [
        "/etc/tpt/tpt.yaml",
        "/etc/tpt/config.yaml",
        "./tpt.yaml",
        "./config.yaml",
    ];

    /// <summary>
    /// First hit wins: -c, then TPT_CONFIG, then the default paths. A path the user named explicitly
    /// must exist: falling through to a default file would silently run a different configuration.
    /// </summary>
    /// <param name="isDirectory">Tells a directory from a missing file, so the message says which; null means never.</param>
    public static ConfigFileLocation Locate(string? cliPath, Func<string, string?> environment, Func<string, bool> fileExists, Func<string, bool>? isDirectory = null)
    {
        if (cliPath is not null)
        {
            return Named(cliPath, "-c/--config", fileExists, isDirectory);
        }

        var fromEnvironment = environment(EnvironmentVariable);
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return Named(fromEnvironment, EnvironmentVariable, fileExists, isDirectory);
        }

        foreach (var candidate in DefaultPaths)
        {
            if (fileExists(candidate))
            {
                return new ConfigFileLocation(candidate, null);
            }
        }

        return new ConfigFileLocation(
            null,
            $"no configuration file found; tried -c/--config (not given), {EnvironmentVariable} (not set), {string.Join(", ", DefaultPaths)}");
    }

    private static ConfigFileLocation Named(string path, string source, Func<string, bool> fileExists, Func<string, bool>? isDirectory)
    {
        if (fileExists(path))
        {
            return new ConfigFileLocation(path, null);
        }

        var why = isDirectory?.Invoke(path) == true ? "is a directory; give the path of the YAML file in it" : "does not exist";
        return new ConfigFileLocation(null, $"configuration file '{path}' (from {source}) {why}");
    }
}
