namespace TlsProxyTunnel.Cli;

/// <summary>
/// The checks ptw and uotp-client make alike on their TLS client options (<c>-C --no-hostname-check
/// --tls-servername</c>); both come from one author's toolkit and word them the same.
/// </summary>
internal static class TlsClientArguments
{
    /// <summary><c>--tls-servername</c>: any name but an empty one.</summary>
    public static string ServerName(string text, ref string? error)
    {
        if (text.Length == 0)
        {
            error ??= "argument --tls-servername: '' is not valid server name";
        }

        return text;
    }

    /// <summary>
    /// The originals find this only when they start (a fatal log line, exit 2): here it is a usage error, the same
    /// exit code. Null when the options go together.
    /// </summary>
    public static string? CaFileError(bool noHostnameCheck, string? caFile) =>
        noHostnameCheck && caFile is null
            ? "--no-hostname-check needs -C/--cafile (CAfile option is required when hostname check is disabled)"
            : null;
}
