using YamlDotNet.Core;

namespace TlsProxyTunnel.Configuration;

/// <summary>Collects diagnostics for one file, dropping exact repeats (an anchored node checked once per alias).</summary>
internal sealed class DiagnosticBag(string file)
{
    private readonly List<ConfigDiagnostic> _items = [];
    private readonly HashSet<ConfigDiagnostic> _seen = [];

    public string File { get; } = file;

    public IReadOnlyList<ConfigDiagnostic> Items => _items;

    public bool HasErrors { get; private set; }

    public void Error(Mark where, string message) => Add(DiagnosticSeverity.Error, where, message);

    public void Warning(Mark where, string message) => Add(DiagnosticSeverity.Warning, where, message);

    /// <summary>A problem with no position in the file, such as the file being missing.</summary>
    public void FileError(string message) => Add(new ConfigDiagnostic(DiagnosticSeverity.Error, File, 0, 0, message));

    private void Add(DiagnosticSeverity severity, Mark where, string message)
    {
        Add(new ConfigDiagnostic(severity, File, (int)Math.Min(where.Line, int.MaxValue), (int)Math.Min(where.Column, int.MaxValue), message));
    }

    private void Add(ConfigDiagnostic diagnostic)
    {
        if (_seen.Add(diagnostic))
        {
            _items.Add(diagnostic);
            HasErrors |= diagnostic.Severity == DiagnosticSeverity.Error;
        }
    }
}
