using System.Globalization;
using YamlDotNet.Core;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Collects diagnostics for one file. Bounded whatever the input: one diagnostic per source position and
/// severity (an anchored node merged or aliased 600 times is one mistake, not 600), at most
/// <see cref="MaxReported"/> kept (the rest are counted), each message cut to <see cref="MaxMessageLength"/>.
/// Messages at a position whose value came from the environment are scrubbed of that value's parts, so a
/// message that quotes a part of it by mistake still cannot show it.
/// </summary>
internal sealed class DiagnosticBag(string file)
{
    /// <summary>Enough to fix a file by; more only repeat the same mistake.</summary>
    public const int MaxReported = 100;

    public const int MaxMessageLength = 1000;

    /// <summary>Fragments shorter than this are too common to scrub ("a", "1").</summary>
    private const int MinSecretFragment = 3;

    private readonly List<ConfigDiagnostic> _items = [];
    private readonly HashSet<(int Line, int Column, DiagnosticSeverity Severity)> _reported = [];
    private readonly Dictionary<(int Line, int Column), List<string>> _secrets = [];
    private int _omittedErrors;
    private int _omittedWarnings;

    public string File { get; } = file;

    /// <summary>Kept diagnostics in file order, then a note for any that were counted but not kept.</summary>
    public IReadOnlyList<ConfigDiagnostic> Items
    {
        get
        {
            var ordered = _items.OrderBy(d => d.Line).ThenBy(d => d.Column).ToList();
            if (_omittedErrors > 0 || _omittedWarnings > 0)
            {
                ordered.Add(new ConfigDiagnostic(DiagnosticSeverity.Note, File, 0, 0, string.Create(
                    CultureInfo.InvariantCulture,
                    $"and {_omittedErrors} more error(s) and {_omittedWarnings} more warning(s) not shown; fix the ones above first")));
            }

            return ordered;
        }
    }

    public bool HasErrors { get; private set; }

    /// <summary>Every error found, including those not kept.</summary>
    public int ErrorCount { get; private set; }

    public void Error(Mark where, string message) => Add(DiagnosticSeverity.Error, where, message);

    public void Warning(Mark where, string message) => Add(DiagnosticSeverity.Warning, where, message);

    /// <summary>
    /// True when a diagnostic of <paramref name="severity"/> was already reported at <paramref name="where"/>,
    /// so a loop over merged entries can skip building a message that would be dropped.
    /// </summary>
    public bool IsReported(Mark where, DiagnosticSeverity severity = DiagnosticSeverity.Error) =>
        _reported.Contains((LineOf(where), ColumnOf(where), severity));

    /// <summary>A problem with no position in the file, such as the file being missing.</summary>
    public void FileError(string message) => Add(new ConfigDiagnostic(DiagnosticSeverity.Error, File, 0, 0, Cut(message)));

    /// <summary>Marks <paramref name="value"/> (a value from the environment) as secret in any message about the scalar at <paramref name="where"/>.</summary>
    public void AddSecret(Mark where, string value)
    {
        if (value.Length < MinSecretFragment)
        {
            return;
        }

        var key = (LineOf(where), ColumnOf(where));
        if (!_secrets.TryGetValue(key, out var fragments))
        {
            _secrets[key] = fragments = [];
        }

        fragments.Add(value);
        foreach (var fragment in Words(value))
        {
            if (fragment.Length >= MinSecretFragment)
            {
                fragments.Add(fragment);
            }
        }
    }

    private void Add(DiagnosticSeverity severity, Mark where, string message)
    {
        var line = LineOf(where);
        var column = ColumnOf(where);
        if (!_reported.Add((line, column, severity)))
        {
            return;
        }

        if (_secrets.TryGetValue((line, column), out var secrets))
        {
            message = Scrub(message, secrets);
        }

        Add(new ConfigDiagnostic(severity, File, line, column, Cut(message)));
    }

    private void Add(ConfigDiagnostic diagnostic)
    {
        if (diagnostic.Line == 0 && _items.Contains(diagnostic))
        {
            return;
        }

        if (diagnostic.Severity == DiagnosticSeverity.Error)
        {
            HasErrors = true;
            ErrorCount++;
        }

        if (_items.Count >= MaxReported)
        {
            if (diagnostic.Severity == DiagnosticSeverity.Error)
            {
                _omittedErrors++;
            }
            else
            {
                _omittedWarnings++;
            }

            return;
        }

        _items.Add(diagnostic);
    }

    /// <summary>Replaces every word of <paramref name="message"/> that shares a fragment with a secret.</summary>
    private static string Scrub(string message, List<string> secrets)
    {
        var builder = new System.Text.StringBuilder(message.Length);
        var i = 0;
        while (i < message.Length)
        {
            if (!char.IsLetterOrDigit(message[i]))
            {
                builder.Append(message[i]);
                i++;
                continue;
            }

            var start = i;
            while (i < message.Length && char.IsLetterOrDigit(message[i]))
            {
                i++;
            }

            // Both ways: a word holding a fragment ("'Basic_dXNl'"), and a word cut out of one (a shortened echo).
            var word = message[start..i];
            var secret = secrets.Any(f => word.Contains(f, StringComparison.OrdinalIgnoreCase))
                || (word.Length > MinSecretFragment && secrets.Any(f => f.Contains(word, StringComparison.OrdinalIgnoreCase)));
            builder.Append(secret ? ValueEcho.HiddenText : word);
        }

        return builder.ToString();
    }

    private static IEnumerable<string> Words(string text)
    {
        var start = -1;
        for (var i = 0; i <= text.Length; i++)
        {
            var inWord = i < text.Length && char.IsLetterOrDigit(text[i]);
            if (inWord && start < 0)
            {
                start = i;
            }
            else if (!inWord && start >= 0)
            {
                yield return text[start..i];
                start = -1;
            }
        }
    }

    private static string Cut(string message) =>
        message.Length <= MaxMessageLength ? message : string.Concat(message.AsSpan(0, MaxMessageLength), "... (message cut)");

    private static int LineOf(Mark where) => (int)Math.Min(where.Line, int.MaxValue);

    private static int ColumnOf(Mark where) => (int)Math.Min(where.Column, int.MaxValue);
}
