using System.Diagnostics;

namespace TlsProxyTunnel.Tests.Configuration;

/// <summary>
/// A temporary directory of certificates and keys written by the real openssl CLI (the files users bring), and a
/// configuration file beside them; removed on dispose.
/// </summary>
internal sealed class CertificateDirectory : IDisposable
{
    public CertificateDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"tpt-tls-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>
    /// A self-signed EC certificate <paramref name="name"/>.pem with its key in <paramref name="name"/>.key, valid from now
    /// for <paramref name="days"/> days, for <paramref name="dnsNames"/> (the first is the CN).
    /// </summary>
    public (string Cert, string Key) SelfSigned(string name, int days = 30, params string[] dnsNames)
    {
        var names = dnsNames.Length == 0 ? ["localhost"] : dnsNames;
        var (cert, key) = (File($"{name}.pem"), File($"{name}.key"));
        OpenSsl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
            "-days", days.ToString(System.Globalization.CultureInfo.InvariantCulture), "-subj", $"/CN={names[0]}",
            "-addext", "subjectAltName=" + string.Join(',', names.Select(n => $"DNS:{n}")));
        return (cert, key);
    }

    /// <summary>A CA, and a leaf it signed whose file holds the leaf then the CA (a chain): (ca.pem, leaf chain file, leaf key).</summary>
    public (string Ca, string Chain, string Key) Chain(string name)
    {
        var (ca, caKey) = SelfSigned($"{name}-ca", 60, $"{name} CA");
        var key = File($"{name}.key");
        var csr = File($"{name}.csr");
        var leaf = File($"{name}-leaf.pem");
        OpenSsl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", $"/CN={name}");
        OpenSsl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", leaf, "-days", "30");
        var chain = File($"{name}-chain.pem");
        System.IO.File.WriteAllText(chain, System.IO.File.ReadAllText(leaf) + System.IO.File.ReadAllText(ca));
        return (ca, chain, key);
    }

    /// <summary><paramref name="key"/> encrypted with a passphrase: PKCS#8 (openssl's default) or OpenSSL's traditional form.</summary>
    public string Encrypted(string key, bool traditional)
    {
        var output = File(System.IO.Path.GetFileNameWithoutExtension(key) + (traditional ? ".trad-enc.key" : ".enc.key"));
        if (traditional)
        {
            OpenSsl("ec", "-in", key, "-out", output, "-aes256", "-passout", "pass:secret");
        }
        else
        {
            OpenSsl("pkey", "-in", key, "-out", output, "-aes256", "-passout", "pass:secret");
        }

        return output;
    }

    /// <summary>A file with <paramref name="text"/>.</summary>
    public string Write(string name, string text)
    {
        System.IO.File.WriteAllText(File(name), text);
        return File(name);
    }

    /// <summary>The configuration file <c>tpt.yaml</c> in this directory.</summary>
    public string Config(string yaml) => Write("tpt.yaml", yaml.ReplaceLineEndings("\n"));

    public static void OpenSsl(params string[] args)
    {
        var info = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), $"openssl {string.Join(' ', args)} did not finish");
        Assert.True(process.ExitCode == 0, $"openssl {string.Join(' ', args)} failed: {stdout.Result}{stderr.Result}");
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
