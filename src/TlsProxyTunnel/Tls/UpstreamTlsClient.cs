using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Tls;

/// <summary>
/// What originating TLS to one upstream needs, built once per upstream settings (and kept across reloads by
/// <see cref="Upstreams.UpstreamStates"/>): the client certificate's context, the ca_only chain policy, the
/// ALPN list. Each handshake gets fresh options from it, because the server name may be the client's SNI.
/// </summary>
internal sealed class UpstreamTlsClient
{
    private readonly UpstreamTlsSettings _settings;
    private readonly string _defaultHost;
    private readonly SslStreamCertificateContext? _clientCertificate;
    private readonly X509ChainPolicy? _caOnlyPolicy;
    private readonly List<SslApplicationProtocol>? _alpn;

    public UpstreamTlsClient(UpstreamConfig upstream)
    {
        _settings = upstream.Tls ?? throw new ArgumentException("The upstream does not originate TLS.", nameof(upstream));

        // An IP literal as host: .NET sends no SNI for it and checks the certificate's IP addresses instead.
        _defaultHost = _settings.ServerName ?? upstream.Host;
        // The loader builds the context with the intermediates from the certificate's file, so they are sent too.
        _clientCertificate = _settings.ClientCertificateContext
            ?? (_settings.ClientCertificate is { } certificate ? SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true) : null);

        if (_settings.CaOnly)
        {
            // Only the configured roots: the system store plays no part, so this policy replaces the default one.
            _caOnlyPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            _caOnlyPolicy.CustomTrustStore.AddRange(_settings.ExtraRoots);
        }

        _alpn = _settings.Alpn.Count > 0 ? [.. _settings.Alpn] : null;
    }

    public UpstreamTlsSettings Settings => _settings;

    /// <summary>
    /// The name sent as SNI and checked: <c>server_name</c>; the client's SNI for <c>from_client</c> (when it sent
    /// one); through a via, the CONNECT target's host (the address is the proxy's, not the server's); else the
    /// address's host.
    /// </summary>
    public string TargetHost(string? clientSni, string? connectAuthority)
    {
        if (_settings.ServerNameFromClient && clientSni is not null)
        {
            return clientSni;
        }

        if (_settings.ServerName is null && connectAuthority is not null)
        {
            return AuthorityHost(connectAuthority);
        }

        return _defaultHost;
    }

    /// <summary>
    /// <see cref="TargetHost"/> as safe to log: a value that came from the environment is shown as written
    /// (<c>${NAME}</c>, or the upstream's address as written), never expanded.
    /// </summary>
    public string TargetHostDisplay(string? clientSni, string? connectAuthorityDisplay, string upstreamDisplay)
    {
        if (_settings.ServerNameFromClient && clientSni is not null)
        {
            return clientSni;
        }

        if (_settings.ServerName is { } name)
        {
            return _settings.ServerNameWritten ?? name;
        }

        return connectAuthorityDisplay is not null ? $"host of {connectAuthorityDisplay}" : $"host of {upstreamDisplay}";
    }

    /// <summary>The host of <c>host:port</c> or <c>[v6]:port</c> (already validated when the via was loaded).</summary>
    internal static string AuthorityHost(string authority)
    {
        if (authority.StartsWith('[') && authority.IndexOf(']', StringComparison.Ordinal) is var close and > 0)
        {
            return authority[1..close];
        }

        var colon = authority.LastIndexOf(':');
        return colon > 0 ? authority[..colon] : authority;
    }

    public SslClientAuthenticationOptions CreateOptions(string targetHost, UpstreamCertificateCheck check) => new()
    {
        TargetHost = targetHost,
        ClientCertificateContext = _clientCertificate,
        ApplicationProtocols = _alpn,
        CertificateChainPolicy = _caOnlyPolicy?.Clone(),
        RemoteCertificateValidationCallback = check.Validate,
    };
}

/// <summary>
/// The upstream certificate check of one handshake, per <c>verify</c>, <c>ca</c> and <c>ca_only</c>; remembers which
/// check failed so that the log and the metric can say so (OpenSSL only reports "certificate verify failed").
/// </summary>
/// <param name="settings">The upstream's TLS settings.</param>
/// <param name="targetHostDisplay">The name checked, as safe to log (see <see cref="UpstreamTlsClient.TargetHostDisplay"/>).</param>
internal sealed class UpstreamCertificateCheck(UpstreamTlsSettings settings, string targetHostDisplay)
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");

    /// <summary><see cref="TlsHandshakeResult.Ok"/> until a check fails.</summary>
    public TlsHandshakeResult Result { get; private set; }

    public string? Reason { get; private set; }

    /// <summary>The handshake got as far as the upstream's certificate.</summary>
    public bool CertificateSeen { get; private set; }

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        CertificateSeen = true;
        if (settings.Verify == TlsVerifyMode.None)
        {
            return true;
        }

        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return Fail(TlsHandshakeResult.Untrusted, "the upstream sent no certificate");
        }

        if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0 && !TrustedByExtraRoots(certificate, chain))
        {
            return Fail(TlsHandshakeResult.Untrusted, $"certificate chain not trusted ({ChainStatus(chain)}); subject {PeerText.Printable(certificate.Subject)}");
        }

        if (settings.Verify == TlsVerifyMode.Full && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return Fail(TlsHandshakeResult.NameMismatch, $"certificate {PeerText.Printable(certificate.Subject)} does not name '{targetHostDisplay}'");
        }

        return true;
    }

    /// <summary>
    /// <c>ca</c> without <c>ca_only</c>: the system store decided first; a chain it rejects is still trusted when it
    /// ends in one of the configured roots. (With <c>ca_only</c> the handshake's own policy already used only those.)
    /// </summary>
    private bool TrustedByExtraRoots(X509Certificate certificate, X509Chain? presented)
    {
        if (settings.CaOnly || settings.ExtraRoots.Count == 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(settings.ExtraRoots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(ServerAuthentication);
        if (presented is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(presented.ChainPolicy.ExtraStore);
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }

    private static string ChainStatus(X509Chain? chain)
    {
        if (chain is null || chain.ChainStatus.Length == 0)
        {
            return "no chain";
        }

        return string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct());
    }

    private bool Fail(TlsHandshakeResult result, string reason)
    {
        Result = result;
        Reason = reason;
        return false;
    }
}
