namespace TlsProxyTunnel.Configuration;

/// <summary>
/// A server's <c>engine</c> or the process's <c>TPT_ENGINE</c>: what was asked for, before
/// <see cref="Engine.EngineSelection"/> turns it into the <see cref="Engine.EngineKind"/> that runs.
/// </summary>
internal enum EngineChoice
{
    /// <summary>Not chosen here: the process default decides, and where that is auto too, the Linux engine where it can run.</summary>
    Auto,

    Linux,

    Sockets,
}

/// <summary>The values of <c>engine</c> and <c>TPT_ENGINE</c>, one table for both.</summary>
internal static class EngineChoiceNames
{
    public static readonly IReadOnlyDictionary<string, EngineChoice> Table = new Dictionary<string, EngineChoice>(StringComparer.Ordinal)
    {
        ["auto"] = EngineChoice.Auto,
        ["linux"] = EngineChoice.Linux,
        ["sockets"] = EngineChoice.Sockets,
    };

    /// <summary>"auto, linux, sockets", for messages.</summary>
    public static string Accepted => string.Join(", ", Table.Keys);

    /// <summary>Case-insensitive, surrounding blanks ignored (an environment variable is typed by hand).</summary>
    public static bool TryParse(string text, out EngineChoice choice) =>
        Table.TryGetValue(text.Trim().ToLowerInvariant(), out choice);
}
