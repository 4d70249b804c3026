namespace TlsProxyTunnel.Configuration;

/// <summary>HTTP grammar the CONNECT headers must follow.</summary>
internal static class HttpSyntax
{
    private const string TokenSymbols = "!#$%&'*+-.^_`|~";

    /// <summary>RFC 9110 token: one or more tchar.</summary>
    public static bool IsToken(string text) =>
        text.Length > 0 && text.All(c => char.IsAsciiLetterOrDigit(c) || TokenSymbols.Contains(c, StringComparison.Ordinal));
}
