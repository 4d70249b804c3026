namespace TlsProxyTunnel.Configuration;

internal enum DiagnosticSeverity
{
    Error,
    Warning,

    /// <summary>About the report itself, such as how many diagnostics were left out.</summary>
    Note,
}

/// <summary>One problem found in a configuration file, with where it is.</summary>
/// <param name="Line">1-based; 0 when the problem has no single place (e.g. a missing file).</param>
/// <param name="Column">1-based; 0 when unknown.</param>
internal sealed record ConfigDiagnostic(DiagnosticSeverity Severity, string File, int Line, int Column, string Message)
{
    public override string ToString()
    {
        var where = Line > 0 ? $"{File}:{Line}:{Column}" : File;
        var kind = Severity switch
        {
            DiagnosticSeverity.Error => "error",
            DiagnosticSeverity.Warning => "warning",
            _ => "note",
        };
        return $"{where}: {kind}: {Message}";
    }
}

/// <summary>What loading a configuration produced: a config when there were no errors, and every diagnostic.</summary>
/// <param name="ErrorCount">Every error found, including those left out of <paramref name="Diagnostics"/> past the cap.</param>
internal sealed record ConfigLoadResult(ProxyConfig? Config, IReadOnlyList<ConfigDiagnostic> Diagnostics, int ErrorCount)
{
    public bool Succeeded => Config is not null;

    public IEnumerable<ConfigDiagnostic> Errors => Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error);

    public IEnumerable<ConfigDiagnostic> Warnings => Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning);
}
