namespace TlsProxyTunnel.Configuration;

/// <summary>
/// How a parser may show a part of the value it is checking ("the port 'x' must be a number"). A value that
/// came from the environment may be a secret, so every part of it is hidden; the diagnostic already shows
/// the text as written (<c>${NAME}</c>) and its position. Parsers quote parts only through this type.
/// </summary>
internal readonly record struct ValueEcho(bool Hidden)
{
    public const string HiddenText = "(hidden: from the environment)";

    /// <summary>For values written in the file itself.</summary>
    public static ValueEcho Visible => default;

    /// <summary><paramref name="part"/> quoted, escaped and cut, or a placeholder when the value is hidden.</summary>
    public string Of(string part) => Hidden ? HiddenText : DiagnosticText.Quote(part);
}
