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
    public static ConfigFileLocation Locate(string? cliPath, Func<string, string?> environment, Func<string, bool> fileExists)
    {
        if (cliPath is not null)
        {
            return fileExists(cliPath)
                ? new ConfigFileLocation(cliPath, null)
                : new ConfigFileLocation(null, $"configuration file '{cliPath}' (from -c/--config) does not exist");
        }

        var fromEnvironment = environment(EnvironmentVariable);
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return fileExists(fromEnvironment)
                ? new ConfigFileLocation(fromEnvironment, null)
                : new ConfigFileLocation(null, $"configuration file '{fromEnvironment}' (from {EnvironmentVariable}) does not exist");
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
}
