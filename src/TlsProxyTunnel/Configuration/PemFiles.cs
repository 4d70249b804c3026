using System.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Reads certificates and private keys from PEM files for the loader. Every failure is a sentence for a
/// diagnostic, never an exception, and no sentence holds key material or an exception text that could quote
/// a file's contents. Files are read with a bound, so a wrong path (a device, a log) cannot exhaust memory.
/// </summary>
internal static class PemFiles
{
    /// <summary>Far above a certificate chain or a CA bundle (the Mozilla bundle is about 220 KB).</summary>
    public const int MaxFileBytes = 4 * 1024 * 1024;

    private const string CertificateLabel = "CERTIFICATE";

    private static readonly string[] PlainKeyLabels = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"];

    private const string RsaOid = "1.2.840.113549.1.1.1";
    private const string EcOid = "1.2.840.10045.2.1";

    /// <summary>The PEM blocks of one file, by label, in file order.</summary>
    internal sealed record PemContents(IReadOnlyList<X509Certificate2> Certificates, IReadOnlyList<string> KeyBlocks, bool EncryptedKey, int OtherBlocks);

    /// <summary>Reads a file's text; null with <paramref name="error"/> set when it cannot be read.</summary>
    public static string? ReadText(string fullPath, bool showReason, out string? error)
    {
        error = null;
        try
        {
            if (Directory.Exists(fullPath))
            {
                error = "it is a directory, not a file";
                return null;
            }

            if (new FileInfo(fullPath) is { Exists: true, Length: > MaxFileBytes })
            {
                error = $"it is larger than {MaxFileBytes / (1024 * 1024)} MiB; is it the right file?";
                return null;
            }

            // Counted while reading too: a FIFO or a device reports no length.
            using var reader = new StreamReader(fullPath, detectEncodingFromByteOrderMarks: true);
            var text = new System.Text.StringBuilder();
            var chunk = new char[16 * 1024];
            int read;
            while ((read = reader.Read(chunk, 0, chunk.Length)) > 0)
            {
                text.Append(chunk, 0, read);
                if (text.Length > MaxFileBytes)
                {
                    error = $"it is larger than {MaxFileBytes / (1024 * 1024)} MiB; is it the right file?";
                    return null;
                }
            }

            return text.ToString();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            error = "the file does not exist";
        }
        catch (UnauthorizedAccessException)
        {
            error = "permission denied (tpt must be able to read it)";
        }
        catch (Exception e) when (e is IOException or SecurityException or ArgumentException or NotSupportedException)
        {
            // The runtime's message names the full path, which may have come from the environment.
            error = showReason ? e.Message : "it cannot be read";
        }

        return null;
    }

    /// <summary>Splits <paramref name="text"/> into PEM blocks; null with <paramref name="error"/> set when a certificate block is damaged.</summary>
    public static PemContents? Parse(string text, out string? error)
    {
        error = null;
        var certificates = new List<X509Certificate2>();
        var keys = new List<string>();
        var encrypted = false;
        var other = 0;
        var rest = text.AsSpan();
        var offset = 0;
        while (PemEncoding.TryFind(rest, out var fields))
        {
            var label = rest[fields.Label].ToString();
            var block = rest[fields.Location];
            if (label == CertificateLabel)
            {
                var der = new byte[fields.DecodedDataLength];
                if (!Convert.TryFromBase64Chars(rest[fields.Base64Data], der, out var written))
                {
                    error = $"certificate block {certificates.Count + 1} is not valid base64";
                    return null;
                }

                try
                {
                    certificates.Add(X509CertificateLoader.LoadCertificate(der.AsSpan(0, written)));
                }
                catch (CryptographicException)
                {
                    error = $"certificate block {certificates.Count + 1} is not a valid X.509 certificate";
                    return null;
                }
            }
            else if (label == "ENCRYPTED PRIVATE KEY")
            {
                encrypted = true;
            }
            else if (PlainKeyLabels.Contains(label))
            {
                keys.Add(block.ToString());
            }
            else
            {
                other++;
            }

            offset += fields.Location.End.Value;
            rest = text.AsSpan(offset);
        }

        // OpenSSL's traditional format marks encryption with headers inside the block, which PemEncoding
        // does not take for a block at all.
        encrypted |= text.Contains("Proc-Type: 4,ENCRYPTED", StringComparison.Ordinal);
        return new PemContents(certificates, keys, encrypted, other);
    }

    /// <summary>
    /// The certificate with <paramref name="keyBlock"/> as its private key; null with <paramref name="error"/> set when the
    /// key is not the certificate's or cannot be used.
    /// </summary>
    public static X509Certificate2? WithKey(X509Certificate2 certificate, string keyBlock, out string? error)
    {
        error = null;
        try
        {
            switch (certificate.GetKeyAlgorithm())
            {
                case RsaOid:
                {
                    using var rsa = RSA.Create();
                    rsa.ImportFromPem(keyBlock);
                    return certificate.CopyWithPrivateKey(rsa);
                }

                case EcOid:
                {
                    using var ec = ECDsa.Create();
                    ec.ImportFromPem(keyBlock);
                    return certificate.CopyWithPrivateKey(ec);
                }

                default:
                    error = $"the certificate's key type ({certificate.GetKeyAlgorithm()}) is not supported; use an RSA or ECDSA key";
                    return null;
            }
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            // ArgumentException: a key of the right type but another pair; CryptographicException: another type.
            error = "the private key does not match the certificate";
            return null;
        }
    }

    /// <summary>"CN=x", the DNS names and IP addresses of the subject alternative name, for output and messages.</summary>
    public static IReadOnlyList<string> Names(X509Certificate2 certificate)
    {
        var names = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san)
            {
                names.AddRange(san.EnumerateDnsNames());
                names.AddRange(san.EnumerateIPAddresses().Select(a => a.ToString()));
            }
        }

        return names;
    }
}
