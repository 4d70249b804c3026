using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace TlsProxyTunnel.Configuration.Yaml;

/// <summary>
/// Expands environment variables in scalar values as they come out of the YAML parser. Doing it on parsed
/// scalars, not on the file text, means a value containing ':' or '#' cannot change the document's shape,
/// and the scalar keeps its own line and column. Mapping keys are left alone: server names and SNI keys
/// are structure, not secrets.
/// </summary>
internal sealed class ExpandingParser(IParser inner, Func<string, string?> environment, DiagnosticBag diagnostics) : IParser
{
    /// <summary>What a scalar looked like before expansion, keyed by its start offset in the file.</summary>
    internal sealed record Origin(string Raw, bool Expanded);

    private readonly Dictionary<long, Origin> _origins = [];

    // One frame per open collection: true for a mapping still waiting for its next key.
    private readonly Stack<(bool IsMapping, bool ExpectKey)> _frames = new();

    public ParsingEvent? Current { get; private set; }

    public IReadOnlyDictionary<long, Origin> Origins => _origins;

    public bool MoveNext()
    {
        if (!inner.MoveNext())
        {
            Current = null;
            return false;
        }

        var current = inner.Current;
        switch (current)
        {
            case Scalar scalar:
                var isKey = IsKeyPosition();
                CompleteNode();
                Current = isKey ? scalar : Expand(scalar);
                return true;
            case AnchorAlias:
                CompleteNode();
                break;
            case MappingStart:
                _frames.Push((true, true));
                break;
            case SequenceStart:
                _frames.Push((false, false));
                break;
            case MappingEnd or SequenceEnd:
                if (_frames.Count > 0)
                {
                    _frames.Pop();
                }

                CompleteNode();
                break;
        }

        Current = current;
        return true;
    }

    private bool IsKeyPosition() => _frames.TryPeek(out var top) && top.IsMapping && top.ExpectKey;

    private void CompleteNode()
    {
        if (_frames.TryPop(out var top))
        {
            _frames.Push(top.IsMapping ? (true, !top.ExpectKey) : top);
        }
    }

    private Scalar Expand(Scalar scalar)
    {
        var result = EnvironmentExpander.Expand(scalar.Value, environment);
        foreach (var secret in result.Substituted)
        {
            diagnostics.AddSecret(scalar.Start, secret);
        }

        if (result.Problems.Count > 0)
        {
            // One diagnostic per position: every problem of this value in one message.
            diagnostics.Error(scalar.Start, string.Join("; ", result.Problems));
        }

        if (!result.UsedVariables && ReferenceEquals(result.Value, scalar.Value))
        {
            return scalar;
        }

        _origins[scalar.Start.Index] = new Origin(scalar.Value, result.UsedVariables);
        return new Scalar(scalar.Anchor, scalar.Tag, result.Value, scalar.Style, scalar.IsPlainImplicit, scalar.IsQuotedImplicit, scalar.Start, scalar.End, scalar.IsKey);
    }
}
