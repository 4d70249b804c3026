using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Routing;

namespace TlsProxyTunnel.Tls;

/// <summary>
/// What terminating client TLS for one server needs, built once per snapshot: the certificate per SNI pattern
/// (exact and <c>*.suffix</c>, matched as routes are), the client-certificate policy, the ALPN list.
/// </summary>
internal sealed class ServerTlsTerminator
{
    private readonly TerminateTlsSettings _settings;
    private readonly SniRouter<ServerCertificate> _certificates;
    private readonly X509ChainPolicy? _clientPolicy;
    private readonly List<SslApplicationProtocol>? _alpn;
    private readonly CertificateMinter? _minter;

    public ServerTlsTerminator(TerminateTlsSettings settings, TimeProvider? time = null)
    {
        _settings = settings;
        _minter = settings.Mint is { } mint ? new CertificateMinter(mint, time ?? TimeProvider.System) : null;

        // The loader rejects a pattern given twice; the first one wins here so a slip can never stop a reload.
        _certificates = new SniRouter<ServerCertificate>(settings.Certificates
            .DistinctBy(c => c.Pattern, StringComparer.Ordinal)
            .Select(c => new KeyValuePair<string, ServerCertificate>(c.Pattern, c.Certificate)));
        if (settings.ClientCa.Count > 0)
        {
            _clientPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            _clientPolicy.CustomTrustStore.AddRange(settings.ClientCa);
        }

        _alpn = settings.Alpn.Count > 0 ? [.. settings.Alpn] : null;
    }

    public TerminateTlsSettings Settings => _settings;

    /// <summary>The minter of <c>mint</c>; null without.</summary>
    public CertificateMinter? Minter => _minter;

    /// <summary>
    /// The certificate for a client's SNI: the most specific matching pattern; else, with <c>mint</c>, one minted for
    /// the SNI; else the default. A client without SNI gets <c>cert</c> when given, else one minted for
    /// <c>fallback_name</c>, else for the address it connected to (<paramref name="local"/>).
    /// </summary>
    public SslStreamCertificateContext CertificateFor(string? sni, IPAddress? local = null)
    {
        if (sni is not null && _certificates.Match(sni) is { } match)
        {
            return match.Context;
        }

        if (_minter is null)
        {
            return _settings.Default!.Context;
        }

        if (sni is not null)
        {
            return _minter.For(sni);
        }

        if (_settings.Default is { } fallback)
        {
            return fallback.Context;
        }

        var address = local is { IsIPv4MappedToIPv6: true } ? local.MapToIPv4() : local;
        return _minter.For(_settings.FallbackName ?? address?.ToString() ?? "localhost");
    }

    public SslServerAuthenticationOptions CreateOptions(string? sni, ClientCertificateCheck check, IPAddress? local = null) => new()
    {
        ServerCertificateContext = CertificateFor(sni, local),
        ClientCertificateRequired = _settings.ClientCertificate != ClientCertificateMode.None,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        CertificateChainPolicy = _clientPolicy?.Clone(),
        RemoteCertificateValidationCallback = _settings.ClientCertificate == ClientCertificateMode.None ? null : check.Validate,
        ApplicationProtocols = _alpn,
    };
}

/// <summary>The client-certificate check of one terminated handshake; remembers which check failed.</summary>
internal sealed class ClientCertificateCheck(ClientCertificateMode mode)
{
    public TlsHandshakeResult Result { get; private set; }

    public string? Reason { get; private set; }

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null)
        {
            if (mode == ClientCertificateMode.Require)
            {
                Result = TlsHandshakeResult.NoClientCert;
                Reason = "client_cert: require and the client sent no certificate";
                return false;
            }

            return true;
        }

        // A server does not check names; only the chain against client_ca matters.
        if ((errors & (SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
        {
            var status = chain is null || chain.ChainStatus.Length == 0
                ? "no chain"
                : string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct());
            Result = TlsHandshakeResult.Untrusted;
            Reason = $"client certificate {PeerText.Printable(certificate.Subject)} not trusted by client_ca ({status})";
            return false;
        }

        return true;
    }
}
