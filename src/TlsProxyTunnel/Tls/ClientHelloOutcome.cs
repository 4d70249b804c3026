namespace TlsProxyTunnel.Tls;

/// <summary>What <see cref="ClientHelloParser"/> made of the bytes received so far.</summary>
internal enum ClientHelloOutcome
{
    /// <summary>The bytes so far are a valid prefix of a ClientHello; read more.</summary>
    NeedMoreData,

    /// <summary>A complete ClientHello with a host_name in its server_name extension.</summary>
    SniFound,

    /// <summary>A complete, well-formed ClientHello without a usable host_name.</summary>
    NoSni,

    /// <summary>The first bytes are not a TLS handshake record (plain text, SSLv2, another protocol).</summary>
    NotTls,

    /// <summary>TLS framing, but the ClientHello is inconsistent or truncated by its own lengths.</summary>
    Malformed,

    /// <summary>The ClientHello would need more than the allowed number of bytes.</summary>
    TooLarge,
}
