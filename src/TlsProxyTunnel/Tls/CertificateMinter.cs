using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Tls;

/// <summary>
/// <c>terminate_tls.mint</c>: a leaf per client name, signed by the configured test CA, made on first use and cached
/// (per configuration generation). What today's clients accept, unlike prox.py's one SHA-1 certificate without a
/// SAN: the name in subjectAltName (DNS or IP), SHA-256, CA:FALSE, serverAuth, a short validity.
/// </summary>
internal sealed class CertificateMinter(MintSettings settings, TimeProvider time)
{
    /// <summary>
    /// Names cached at most; past it the cache starts afresh. A client choosing random SNIs can make tpt mint, but
    /// not grow without bound.
    /// </summary>
    internal const int CacheLimit = 4096;

    // Minted a little in the past, so a peer whose clock runs slightly behind still accepts the leaf.
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    private readonly ConcurrentDictionary<string, Lazy<Minted>> _cache = new(StringComparer.Ordinal);

    /// <summary>How many leaves were minted (for tests: a cached name is not minted again).</summary>
    public int MintedCount => _minted;

    private int _minted;

    public MintSettings Settings => settings;

    /// <summary>The certificate context for <paramref name="name"/> (a normalised host name or an IP address).</summary>
    public SslStreamCertificateContext For(string name)
    {
        var now = time.GetUtcNow();
        while (true)
        {
            if (_cache.Count >= CacheLimit)
            {
                _cache.Clear();
            }

            // Lazy: concurrent first clients of one name wait for one minting instead of each making a key.
            var entry = _cache.GetOrAdd(name, static (n, self) => new Lazy<Minted>(() => self.Mint(n), LazyThreadSafetyMode.ExecutionAndPublication), this);
            var minted = entry.Value;

            // Renewed once half its validity is gone, so a leaf handed out is never about to expire.
            if (now < minted.RenewAfter)
            {
                return minted.Context;
            }

            _cache.TryRemove(new KeyValuePair<string, Lazy<Minted>>(name, entry));
        }
    }

    private Minted Mint(string name)
    {
        var now = time.GetUtcNow();

        // ECDSA P-256: a key in well under a millisecond (RSA 2048 takes tens), accepted by every current TLS stack.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={Escape(name)}"), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        if (IPAddress.TryParse(name, out var address))
        {
            san.AddIpAddress(address);
        }
        else
        {
            san.AddDnsName(name);
        }

        request.CertificateExtensions.Add(san.Build(critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "serverAuth")], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(settings.Ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));

        var notBefore = now - ClockSkew;
        var notAfter = now + settings.Validity;
        if (notAfter > settings.Ca.NotAfter)
        {
            // A leaf outliving its issuer fails validation: end with the CA.
            notAfter = settings.Ca.NotAfter;
        }

        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7F;
        // The CA's own key type decides the signature: an RSA CA signs the ECDSA leaf with PKCS#1 v1.5 SHA-256.
        using var caRsa = settings.Ca.GetRSAPrivateKey();
        using var caEcdsa = caRsa is null ? settings.Ca.GetECDsaPrivateKey() : null;
        var signer = caRsa is not null ? X509SignatureGenerator.CreateForRSA(caRsa, RSASignaturePadding.Pkcs1)
            : caEcdsa is not null ? X509SignatureGenerator.CreateForECDsa(caEcdsa)
            : throw new CryptographicException("the CA certificate has no usable private key");
        using var leaf = request.Create(settings.Ca.SubjectName, signer, notBefore, notAfter, serial);
        var withKey = leaf.CopyWithPrivateKey(key);
        var chain = new X509Certificate2Collection(settings.Ca);
        chain.AddRange(settings.Chain);
        var context = SslStreamCertificateContext.Create(withKey, chain, offline: true);
        Interlocked.Increment(ref _minted);
        return new Minted(context, now + (settings.Validity / 2));
    }

    /// <summary>A CN value with the characters that are special in a distinguished name escaped.</summary>
    private static string Escape(string name) => name.Contains(',') || name.Contains('+') || name.Contains('"') || name.Contains('=')
        ? "\"" + name.Replace("\"", "\\\"", StringComparison.Ordinal) + "\""
        : name;

    private sealed record Minted(SslStreamCertificateContext Context, DateTimeOffset RenewAfter);
}
