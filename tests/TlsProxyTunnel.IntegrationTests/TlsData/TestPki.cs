using System.Security.Cryptography.X509Certificates;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.TlsData;

/// <summary>
/// A small PKI made with the real openssl in a temp directory: a server CA and leaves signed by it, a client CA and a
/// client leaf, and a rogue CA whose "localhost" nobody trusts.
/// </summary>
internal sealed class TestPki : IDisposable
{
    public TestPki()
    {
        Directory = Path.Combine(Path.GetTempPath(), $"tpt-pki-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(Directory);
        Ca("ca");
        Ca("clientca");
        Ca("rogueca");
        Leaf("server", "ca", "localhost", "DNS:localhost,IP:127.0.0.1");
        Leaf("wild", "ca", "*.wild.test", "DNS:*.wild.test");
        Leaf("exact", "ca", "exact.test", "DNS:exact.test");
        Leaf("client", "clientca", "tpt test client", "DNS:client.test");
        Leaf("stranger", "rogueca", "stranger client", "DNS:stranger.test");
        Leaf("rogue", "rogueca", "localhost", "DNS:localhost,IP:127.0.0.1");
    }

    public string Directory { get; }

    public string Cert(string name) => Path.Combine(Directory, $"{name}.crt");

    public string Key(string name) => Path.Combine(Directory, $"{name}.key");

    public X509Certificate2 Load(string name) => X509Certificate2.CreateFromPemFile(Cert(name), Key(name));

    public X509Certificate2 LoadPublic(string name) => X509CertificateLoader.LoadCertificateFromFile(Cert(name));

    public Configuration.ServerCertificate ServerCertificate(string name)
    {
        var certificate = Load(name);
        return new Configuration.ServerCertificate(certificate, System.Net.Security.SslStreamCertificateContext.Create(certificate, null, offline: true), Cert(name));
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A peer may still hold a file open; the temp directory is cleaned by the OS.
        }
    }

    private void Ca(string name) => Run(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", Key(name), "-out", Cert(name),
        "-days", "2", "-subj", $"/CN=tpt test {name}", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");

    private void Leaf(string name, string ca, string commonName, string san) => Run(
        "req", "-x509", "-CA", Cert(ca), "-CAkey", Key(ca), "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", Key(name), "-out", Cert(name), "-days", "2", "-subj", $"/CN={commonName}",
        "-addext", $"subjectAltName={san}", "-addext", "basicConstraints=CA:FALSE", "-addext", "extendedKeyUsage=serverAuth,clientAuth");

    private static void Run(params string[] args)
    {
        var (exitCode, output) = OpenSsl.Run(args);
        Assert.True(exitCode == 0, $"openssl {string.Join(' ', args)}: {output}");
    }
}
