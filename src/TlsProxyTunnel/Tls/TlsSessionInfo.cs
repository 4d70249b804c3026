using System.Net.Security;

namespace TlsProxyTunnel.Tls;

/// <summary>What the access log says about a terminated session.</summary>
/// <param name="Version">As OpenSSL names it: TLSv1.2, TLSv1.3.</param>
/// <param name="Cipher">The IANA cipher suite name.</param>
/// <param name="Alpn">The negotiated protocol; null when none.</param>
/// <param name="ClientCertificate">The client certificate's subject; null when none was sent.</param>
internal sealed record TlsSessionInfo(string Version, string Cipher, string? Alpn, string? ClientCertificate)
{
    public static TlsSessionInfo From(SslStream stream) => new(
        VersionName(stream),
        stream.NegotiatedCipherSuite.ToString(),
        stream.NegotiatedApplicationProtocol.Protocol.IsEmpty ? null : stream.NegotiatedApplicationProtocol.ToString(),
        stream.RemoteCertificate?.Subject);

    public static string VersionName(SslStream stream) => stream.SslProtocol switch
    {
        System.Security.Authentication.SslProtocols.Tls12 => "TLSv1.2",
        System.Security.Authentication.SslProtocols.Tls13 => "TLSv1.3",
        var other => other.ToString(),
    };
}
