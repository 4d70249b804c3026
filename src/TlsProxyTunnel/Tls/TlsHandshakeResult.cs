using System.Security.Authentication;

namespace TlsProxyTunnel.Tls;

/// <summary>Which side of a connection a handshake tpt ran was with.</summary>
internal enum TlsSide
{
    /// <summary>A terminated client (<c>terminate_tls</c>).</summary>
    Client,

    /// <summary>An originated upstream connection (<c>upstream.NAME.tls</c>).</summary>
    Upstream,
}

/// <summary>How a handshake ended: the <c>result</c> label of <c>tpt_tls_handshakes_total</c>.</summary>
internal enum TlsHandshakeResult
{
    Ok,

    /// <summary>The peer's certificate chain does not end in a trusted root (or no certificate was sent).</summary>
    Untrusted,

    /// <summary>The upstream's certificate does not name the server name checked.</summary>
    NameMismatch,

    /// <summary>The handshake did not finish within its deadline.</summary>
    Timeout,

    /// <summary><c>client_cert: require</c> and the client sent none.</summary>
    NoClientCert,

    /// <summary>No shared protocol version or cipher suite, or the peer spoke something that is not TLS.</summary>
    Protocol,

    /// <summary>Anything else: the peer closed or reset, an alert tpt did not cause.</summary>
    Error,
}

internal static class TlsHandshakeResults
{
    public static string Label(TlsHandshakeResult result) => result switch
    {
        TlsHandshakeResult.Ok => "ok",
        TlsHandshakeResult.Untrusted => "untrusted",
        TlsHandshakeResult.NameMismatch => "name_mismatch",
        TlsHandshakeResult.Timeout => "timeout",
        TlsHandshakeResult.NoClientCert => "no_client_cert",
        TlsHandshakeResult.Protocol => "protocol",
        _ => "error",
    };

    /// <summary>
    /// Sorts a failed handshake that tpt's own certificate check did not decide. OpenSSL reports version and
    /// cipher disagreements only as text, so the text is what is looked at; the message is returned for the log.
    /// </summary>
    /// <param name="e">What the handshake threw.</param>
    /// <param name="certificateSeen">Whether the peer's certificate reached tpt's check: a handshake_failure alert
    /// before that can only be about parameters (version, cipher); after it, it is about the certificates.</param>
    public static (TlsHandshakeResult Result, string Reason) Classify(Exception e, bool certificateSeen)
    {
        var reason = Describe(e);
        if (e is AuthenticationException)
        {
            if (!certificateSeen && reason.Contains("alert handshake failure", StringComparison.OrdinalIgnoreCase))
            {
                return (TlsHandshakeResult.Protocol, reason);
            }

            foreach (var marker in ProtocolMarkers)
            {
                if (reason.Contains(marker, StringComparison.OrdinalIgnoreCase))
                {
                    return (TlsHandshakeResult.Protocol, reason);
                }
            }
        }

        return (TlsHandshakeResult.Error, reason);
    }

    private static readonly string[] ProtocolMarkers =
    [
        "protocol version", "unsupported protocol", "no protocols available", "wrong version number", "version too low",
        "no shared cipher", "no suitable", "http request", "packet length too long", "record layer failure",
    ];

    /// <summary>The innermost messages joined: the outer ones are generic ("Authentication failed").</summary>
    public static string Describe(Exception e)
    {
        var parts = new List<string>(3);
        for (var current = (Exception?)e; current is not null && parts.Count < 4; current = current.InnerException)
        {
            parts.Add(current.Message);
        }

        return string.Join(": ", parts);
    }
}
