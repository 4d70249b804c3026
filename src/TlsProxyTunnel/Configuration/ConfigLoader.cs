using System.Security;
using TlsProxyTunnel.Configuration.Yaml;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Reads a configuration file into a validated <see cref="ProxyConfig"/>. Never throws for bad input: every
/// problem, with file, line and column, is in the result, and all of them are reported at once.
/// </summary>
internal static class ConfigLoader
{
    public static ConfigLoadResult Load(string path, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SecurityException or ArgumentException or NotSupportedException)
        {
            var diagnostics = new DiagnosticBag(path);
            var reason = e is FileNotFoundException or DirectoryNotFoundException ? "the file does not exist" : e.Message;
            diagnostics.FileError($"cannot read the configuration file: {reason}");
            return new ConfigLoadResult(null, diagnostics.Items);
        }

        return LoadText(text, path, environment);
    }

    /// <param name="yaml">The file's contents.</param>
    /// <param name="displayPath">The name diagnostics and <see cref="ProxyConfig.SourcePath"/> use.</param>
    /// <param name="environment">Variable lookup for <c>$VAR</c> expansion; null means unset.</param>
    public static ConfigLoadResult LoadText(string yaml, string displayPath, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(environment);
        var diagnostics = new DiagnosticBag(displayPath);
        var tree = YamlTreeBuilder.Build(yaml, environment, diagnostics);
        if (!tree.Readable)
        {
            return new ConfigLoadResult(null, diagnostics.Items);
        }

        var mapped = ConfigMapper.Map(tree.Root, displayPath, diagnostics);
        ConfigValidator.Validate(mapped, diagnostics);
        var ordered = diagnostics.Items.OrderBy(d => d.Line).ThenBy(d => d.Column).ToList();
        return new ConfigLoadResult(diagnostics.HasErrors ? null : mapped.Config, ordered);
    }
}
