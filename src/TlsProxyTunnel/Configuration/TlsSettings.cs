using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace TlsProxyTunnel.Configuration;

// The contract between configuration and data path for TLS that tpt speaks itself (issue #11): the loader
// fills these with certificates already read and checked, so nothing touches a file on the hot path.

/// <summary>How an originated connection checks the upstream's certificate.</summary>
internal enum TlsVerifyMode
{
    /// <summary>Chain and name (the default).</summary>
    Full,

    /// <summary>Chain only (ptw's <c>--no-hostname-check</c>).</summary>
    Chain,

    /// <summary>Nothing; must be written out, and warns at load.</summary>
    None,
}

/// <summary>Whether a terminating server asks clients for a certificate.</summary>
internal enum ClientCertificateMode
{
    None,
    Optional,
    Require,
}

/// <summary><c>upstream.NAME.tls</c>: originate TLS to this upstream.</summary>
internal sealed record UpstreamTlsSettings
{
    /// <summary>SNI sent and name checked; null means the address's host name (no SNI for an IP literal).</summary>
    public string? ServerName { get; init; }

    /// <summary><see cref="ServerName"/> as written (<c>${NAME}</c>) when it came from the environment, for output; null otherwise.</summary>
    public string? ServerNameWritten { get; init; }

    /// <summary><c>server_name: from_client</c>: send and check the client's SNI.</summary>
    public bool ServerNameFromClient { get; init; }

    public TlsVerifyMode Verify { get; init; } = TlsVerifyMode.Full;

    /// <summary><c>ca</c>: trust roots added to the system store (or replacing it with <see cref="CaOnly"/>).</summary>
    public X509Certificate2Collection ExtraRoots { get; init; } = [];

    public bool CaOnly { get; init; }

    /// <summary><c>cert</c> + <c>key</c>: the client certificate, with its private key; null when none.</summary>
    public X509Certificate2? ClientCertificate { get; init; }

    /// <summary>
    /// <see cref="ClientCertificate"/> with the chain from the rest of its file, built once, for
    /// <see cref="SslClientAuthenticationOptions.ClientCertificateContext"/> (so intermediates are sent); null when none.
    /// </summary>
    public SslStreamCertificateContext? ClientCertificateContext { get; init; }

    public IReadOnlyList<SslApplicationProtocol> Alpn { get; init; } = [];
}

/// <summary>A server certificate loaded once, with its chain context built once (building per handshake is slow).</summary>
/// <param name="Certificate">The leaf, with its private key.</param>
/// <param name="Context">Built with <see cref="SslStreamCertificateContext.Create(X509Certificate2, X509Certificate2Collection?, bool, SslCertificateTrust?)"/>.</param>
/// <param name="Display">The certificate file as written in the configuration, safe to log.</param>
internal sealed record ServerCertificate(X509Certificate2 Certificate, SslStreamCertificateContext Context, string Display);

/// <param name="Pattern">An exact host name or <c>*.suffix</c>, normalised as <c>sni</c> keys are.</param>
internal sealed record SniCertificate(string Pattern, ServerCertificate Certificate);

/// <summary><c>servers.NAME.terminate_tls</c>: decrypt client TLS after the hello has been read and routed.</summary>
internal sealed record TerminateTlsSettings
{
    /// <summary><c>cert</c>: for clients whose name matches no <c>certs</c> pattern; null when <see cref="Mint"/> makes those.</summary>
    public ServerCertificate? Default { get; init; }

    /// <summary><c>mint</c>: a leaf per client name, signed by a test CA; null when certificates come from files only.</summary>
    public MintSettings? Mint { get; init; }

    /// <summary><c>fallback_name</c>: the name minted for clients that send no SNI (prox.py's <c>-A CN</c>).</summary>
    public string? FallbackName { get; init; }

    /// <summary><c>certs</c>: per SNI pattern, in file order.</summary>
    public IReadOnlyList<SniCertificate> Certificates { get; init; } = [];

    /// <summary><c>client_ca</c>: the roots client certificates are verified against; empty when none.</summary>
    public X509Certificate2Collection ClientCa { get; init; } = [];

    public ClientCertificateMode ClientCertificate { get; init; } = ClientCertificateMode.None;

    public IReadOnlyList<SslApplicationProtocol> Alpn { get; init; } = [];
}

/// <summary><c>terminate_tls.mint</c>: the CA that signs a leaf per client name (interception of one's own test traffic).</summary>
/// <param name="Ca">The CA certificate with its private key, checked at load to be a CA whose key matches.</param>
/// <param name="Chain">Certificates after the CA in its file (when the CA is an intermediate), sent after the leaf.</param>
/// <param name="Validity">How long each minted leaf is valid, from the moment it is minted.</param>
/// <param name="Display">The CA file as written in the configuration, safe to log.</param>
internal sealed record MintSettings(X509Certificate2 Ca, X509Certificate2Collection Chain, TimeSpan Validity, string Display);
