using System.Buffers;
using System.Text;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// HTTP grammar shared by the configuration (CONNECT header names) and the health server's request parser, so
/// what the file may send and what tpt accepts are one rule.
/// </summary>
internal static class HttpSyntax
{
    /// <summary>RFC 9110 tchar.</summary>
    private const string TokenChars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    private static readonly SearchValues<char> TokenCharValues = SearchValues.Create(TokenChars);
    private static readonly SearchValues<byte> TokenByteValues = SearchValues.Create(Encoding.ASCII.GetBytes(TokenChars));

    /// <summary>RFC 9110 token: one or more tchar.</summary>
    public static bool IsToken(ReadOnlySpan<char> text) => !text.IsEmpty && !text.ContainsAnyExcept(TokenCharValues);

    /// <summary>RFC 9110 token in raw request bytes.</summary>
    public static bool IsToken(ReadOnlySpan<byte> text) => !text.IsEmpty && !text.ContainsAnyExcept(TokenByteValues);

    public static bool IsTokenChar(byte b) => TokenByteValues.Contains(b);
}
