using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using TlsProxyTunnel.Configuration.Yaml;
using TlsProxyTunnel.Routing;

namespace TlsProxyTunnel.Configuration;

/// <summary>
/// Reads <c>upstream.NAME.tls</c> and <c>servers.NAME.terminate_tls</c>, loading every certificate and key they name
/// while the configuration loads, so a bad file is a config error at its key and a reload builds its snapshot from
/// the files as they are now (rotation without restart). Relative file paths resolve against the directory of the
/// configuration file. Messages show a path as written; a path from the environment only as its <c>${NAME}</c> form.
/// </summary>
internal sealed class TlsReader(ValueReader values, string baseDirectory, TimeProvider time)
{
    public static readonly IReadOnlyList<string> UpstreamKeys = ["server_name", "verify", "ca", "ca_only", "cert", "key", "alpn"];

    public static readonly IReadOnlyList<string> TerminateKeys = ["cert", "key", "certs", "client_ca", "client_cert", "alpn", "mint", "fallback_name"];

    private static readonly IReadOnlyList<string> MintKeys = ["ca_cert", "ca_key", "validity"];

    /// <summary>A minted leaf's lifetime when <c>validity</c> is not given: long enough for a test run, short enough to matter.</summary>
    public static readonly TimeSpan DefaultMintValidity = TimeSpan.FromDays(7);

    private static readonly TimeSpan MaxMintValidity = TimeSpan.FromDays(398);

    private static readonly IReadOnlyList<string> CertificateEntryKeys = ["cert", "key"];

    /// <summary><c>server_name: from_client</c>: send and check the client's SNI.</summary>
    public const string FromClient = "from_client";

    /// <summary>A certificate that expires sooner than this warns at load, leaving a week to renew it.</summary>
    public static readonly TimeSpan ExpiryWarning = TimeSpan.FromDays(7);

    /// <summary>An ALPN protocol name is 1 to 255 bytes (RFC 7301).</summary>
    private const int MaxAlpnBytes = 255;

    private static readonly Dictionary<string, TlsVerifyMode> VerifyModes = new(StringComparer.Ordinal)
    {
        ["full"] = TlsVerifyMode.Full,
        ["chain"] = TlsVerifyMode.Chain,
        ["none"] = TlsVerifyMode.None,
    };

    private static readonly Dictionary<string, ClientCertificateMode> ClientCertificateModes = new(StringComparer.Ordinal)
    {
        ["none"] = ClientCertificateMode.None,
        ["optional"] = ClientCertificateMode.Optional,
        ["require"] = ClientCertificateMode.Require,
    };

    // Aliases share one node: read (and load its files) once, report its mistakes once.
    private readonly Dictionary<ConfigNode, UpstreamTlsSettings?> _upstreams = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<ConfigNode, TerminateTlsSettings?> _terminates = new(ReferenceEqualityComparer.Instance);

    private readonly List<string> _files = [];
    private readonly Dictionary<(string Cert, string? Key), Pair> _pairs = [];

    private DiagnosticBag Diagnostics => values.Diagnostics;

    /// <summary>The absolute path of every file read so far, each once, in the order first read.</summary>
    public IReadOnlyList<string> Files => _files;

    /// <summary><c>tls</c> of an upstream in the mapping form; <paramref name="what"/> names it: "upstream 'hub'".</summary>
    public UpstreamTlsSettings? ReadUpstream(ConfigNode node, string what)
    {
        if (!_upstreams.TryGetValue(node, out var settings))
        {
            settings = ReadUpstreamNew(node, what);
            _upstreams.Add(node, settings);
        }

        return settings;
    }

    /// <summary><c>terminate_tls</c> of a server; <paramref name="keyMark"/> is where the key is, for "needs 'cert'".</summary>
    public TerminateTlsSettings? ReadTerminate(ConfigNode node, YamlDotNet.Core.Mark keyMark, string what)
    {
        if (!_terminates.TryGetValue(node, out var settings))
        {
            settings = ReadTerminateNew(node, keyMark, what);
            _terminates.Add(node, settings);
        }

        return settings;
    }

    private UpstreamTlsSettings? ReadUpstreamNew(ConfigNode node, string what)
    {
        if (Section.Open(node, $"'tls' of {what}", UpstreamKeys, Diagnostics) is not { } section)
        {
            return null;
        }

        var settings = new UpstreamTlsSettings();
        if (section.Get("server_name") is { } nameNode && ReadServerName(nameNode) is { } name)
        {
            settings = name;
        }

        if (section.Get("verify") is { } verifyNode && values.Choice("verify", verifyNode, VerifyModes) is { } verify)
        {
            settings = settings with { Verify = verify };
            if (verify == TlsVerifyMode.None)
            {
                Diagnostics.Warning(verifyNode.Start, $"'verify: none' for {what}: its certificate is not checked at all, so anyone on the path can read and change the traffic; for a private CA use 'ca' (and 'verify: chain' if its names do not match)");
            }
        }

        var caOnly = section.Get("ca_only") is { } caOnlyNode && values.Bool("ca_only", caOnlyNode) == true;
        settings = settings with { CaOnly = caOnly };
        if (section.Get("ca") is { } caNode && Path("ca", caNode) is { } caPath)
        {
            if (LoadBundle(caPath, $"'tls.ca' of {what}") is { } roots)
            {
                settings = settings with { ExtraRoots = roots };
            }

            if (settings.Verify == TlsVerifyMode.None)
            {
                Diagnostics.Warning(section.Entry("ca")!.Key.Start, $"'ca' of {what} is not used because 'verify' is none");
            }
        }
        else if (caOnly)
        {
            Diagnostics.Error(section.Entry("ca_only")!.Value.Start, $"'ca_only: true' of {what} needs 'ca': the only roots to trust");
        }

        var certNode = section.Get("cert");
        var keyNode = section.Get("key");
        if (certNode is null && keyNode is not null)
        {
            Diagnostics.Error(section.Entry("key")!.Key.Start, $"'key' of {what} needs 'cert': the client certificate the key belongs to");
        }
        else if (certNode is not null && Path("cert", certNode) is { } certPath)
        {
            var keyPath = keyNode is null ? null : Path("key", keyNode);
            if ((keyNode is null || keyPath is not null) && LoadPair(certPath, keyPath, $"'tls.cert' of {what}", $"'tls.key' of {what}") is { } pair)
            {
                settings = settings with { ClientCertificate = pair.Certificate, ClientCertificateContext = pair.Context };
            }
        }

        if (section.Get("alpn") is { } alpnNode)
        {
            settings = settings with { Alpn = ReadAlpn(alpnNode) };
        }

        return settings;
    }

    private UpstreamTlsSettings? ReadServerName(ConfigNode node)
    {
        if (values.Scalar("server_name", node, $"a host name or '{FromClient}'") is not { } scalar)
        {
            return null;
        }

        var text = scalar.Value.Trim();
        if (text == FromClient)
        {
            return new UpstreamTlsSettings { ServerNameFromClient = true };
        }

        if (IPAddress.TryParse(text.Trim('[', ']'), out _))
        {
            Diagnostics.Error(scalar.Start, $"'server_name' {scalar.Shown} is an IP address; SNI carries host names only. Leave 'server_name' out to connect to an IP address without SNI (its certificate must then name that address)");
            return null;
        }

        if (!HostName.TryNormalize(text, out var name))
        {
            Diagnostics.Error(scalar.Start, $"'server_name' must be a host name or '{FromClient}', got {scalar.Shown}");
            return null;
        }

        return new UpstreamTlsSettings { ServerName = name, ServerNameWritten = scalar.Expanded ? scalar.Raw : null };
    }

    private TerminateTlsSettings? ReadTerminateNew(ConfigNode node, YamlDotNet.Core.Mark keyMark, string what)
    {
        var where = $"'terminate_tls' of {what}";
        if (Section.Open(node, where, TerminateKeys, Diagnostics) is not { } section)
        {
            return null;
        }

        ServerCertificate? fallback = null;
        var mint = section.Get("mint") is { } mintNode ? ReadMint(mintNode, what) : null;
        var mintFailed = section.Get("mint") is not null && mint is null;
        string? fallbackName = null;
        if (section.Get("fallback_name") is { } fallbackNode)
        {
            fallbackName = ReadFallbackName(fallbackNode);
            if (section.Get("mint") is null)
            {
                Diagnostics.Error(section.Entry("fallback_name")!.Key.Start, $"'fallback_name' of {what} needs 'mint': it names the certificate minted for clients without SNI");
            }
            else if (section.Get("cert") is not null)
            {
                Diagnostics.Warning(section.Entry("fallback_name")!.Key.Start, $"'fallback_name' of {what} is not used: clients without SNI get 'cert'");
            }
        }

        if (section.Get("cert") is not { } certNode)
        {
            if (section.Get("mint") is null)
            {
                Diagnostics.Error(keyMark, $"{where} needs 'cert': the certificate for clients whose name matches no 'certs' pattern (its key may sit in the same file, or in 'key'), or 'mint': a CA that signs a certificate per client name");
            }
        }
        else
        {
            fallback = ReadServerCertificate(section, certNode, $"'terminate_tls.cert' of {what}", $"'terminate_tls.key' of {what}");
        }

        var certificates = section.Get("certs") is { } certsNode ? ReadSniCertificates(certsNode, what) : [];

        var mode = ClientCertificateMode.None;
        if (section.Get("client_cert") is { } modeNode && values.Choice("client_cert", modeNode, ClientCertificateModes) is { } chosen)
        {
            mode = chosen;
        }

        X509Certificate2Collection clientCa = [];
        if (section.Get("client_ca") is { } clientCaNode && Path("client_ca", clientCaNode) is { } clientCaPath)
        {
            clientCa = LoadBundle(clientCaPath, $"'terminate_tls.client_ca' of {what}") ?? [];
            if (mode == ClientCertificateMode.None)
            {
                Diagnostics.Warning(section.Entry("client_ca")!.Key.Start, $"'client_ca' of {what} is not used because 'client_cert' is none (the default); set 'client_cert: optional' or 'require' to ask clients for a certificate");
            }
        }
        else if (mode != ClientCertificateMode.None && section.Get("client_ca") is null)
        {
            Diagnostics.Error(section.Entry("client_cert")!.Value.Start, $"'client_cert: {mode.ToString().ToLowerInvariant()}' of {what} needs 'client_ca': the CA that client certificates are checked against");
        }

        var alpn = section.Get("alpn") is { } alpnNode ? ReadAlpn(alpnNode) : [];
        var usable = section.Get("cert") is null ? mint is not null : fallback is not null && !mintFailed;
        return !usable ? null : new TerminateTlsSettings
        {
            Default = fallback,
            Mint = mint,
            FallbackName = fallbackName,
            Certificates = certificates,
            ClientCa = clientCa,
            ClientCertificate = mode,
            Alpn = alpn,
        };
    }

    private MintSettings? ReadMint(ConfigNode node, string what)
    {
        var name = $"'terminate_tls.mint' of {what}";
        if (Section.Open(node, name, MintKeys, Diagnostics) is not { } section)
        {
            return null;
        }

        var validity = DefaultMintValidity;
        if (section.Get("validity") is { } validityNode)
        {
            // Not ValueReader.Duration: that one is capped at 24 days for timers, and a certificate is no timer.
            if (values.Scalar("validity", validityNode, DurationParser.ExpectedForm) is not { } scalar)
            {
                return null;
            }

            if (!DurationParser.TryParse(scalar.Value.Trim(), out var given) || given < TimeSpan.FromMinutes(10) || given > MaxMintValidity)
            {
                Diagnostics.Error(scalar.Start, $"'validity' must be a duration from 10 minutes to {MaxMintValidity.Days} days (the most clients accept for a leaf), such as '7d', got {scalar.Shown}");
                return null;
            }

            validity = given;
        }

        if (section.Get("ca_cert") is not { } caNode)
        {
            Diagnostics.Error(node.Start, $"{name} needs 'ca_cert': the test CA that signs the minted certificates (its key may sit in the same file, or in 'ca_key')");
            return null;
        }

        if (Path("ca_cert", caNode) is not { } caPath)
        {
            return null;
        }

        var keyNode = section.Get("ca_key");
        var keyPath = keyNode is null ? null : Path("ca_key", keyNode);
        if (keyNode is not null && keyPath is null)
        {
            return null;
        }

        var caName = $"'terminate_tls.mint.ca_cert' of {what}";
        if (LoadPair(caPath, keyPath, caName, $"'terminate_tls.mint.ca_key' of {what}") is not { } pair)
        {
            return null;
        }

        // A leaf signed by a certificate that may not sign is refused by every client: say so now, not per handshake.
        var ca = pair.Certificate;
        var constraints = ca.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
        if (constraints is not { CertificateAuthority: true })
        {
            Diagnostics.Error(caPath.Scalar.Start, $"{caName}: {DiagnosticText.Quote(ca.Subject)} in {caPath.Shown} is not a CA (no 'basicConstraints: CA:TRUE'); make one with 'openssl req -x509 -new -key ca.key -subj /CN=test-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -out ca.pem'");
            return null;
        }

        if (ca.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is { } usage && (usage.KeyUsages & X509KeyUsageFlags.KeyCertSign) == 0)
        {
            Diagnostics.Error(caPath.Scalar.Start, $"{caName}: {DiagnosticText.Quote(ca.Subject)} in {caPath.Shown} may not sign certificates (its keyUsage lacks keyCertSign)");
            return null;
        }

        var chain = new X509Certificate2Collection();
        if (ReadPem(caPath, caName) is { } contents)
        {
            foreach (var extra in contents.Certificates.Skip(1))
            {
                chain.Add(extra);
            }
        }

        return new MintSettings(ca, chain, validity, caPath.Scalar.Raw);
    }

    private string? ReadFallbackName(ConfigNode node)
    {
        if (values.Scalar("fallback_name", node, "a host name or an IP address") is not { } scalar)
        {
            return null;
        }

        var text = scalar.Value.Trim();
        if (IPAddress.TryParse(text.Trim('[', ']'), out var address))
        {
            return address.ToString();
        }

        if (!HostName.TryNormalize(text, out var name))
        {
            Diagnostics.Error(scalar.Start, $"'fallback_name' must be a host name or an IP address, got {scalar.Shown}");
            return null;
        }

        return name;
    }

    private List<SniCertificate> ReadSniCertificates(ConfigNode node, string what)
    {
        var certificates = new List<SniCertificate>();
        if (node is not ConfigMapping mapping)
        {
            Diagnostics.Error(node.Start, $"'certs' must be a mapping of server name pattern to {{cert, key}}, got {node.Describe}");
            return certificates;
        }

        foreach (var (pattern, entry) in SniPatterns.Read(mapping, "'certs' key", Diagnostics))
        {
            var key = $"terminate_tls.certs[{DiagnosticText.Printable(entry.Key.Value)}]";
            var name = $"'{key}' of {what}";
            if (Section.Open(entry.Value, name, CertificateEntryKeys, Diagnostics) is not { } section)
            {
                continue;
            }

            if (section.Get("cert") is not { } certNode)
            {
                Diagnostics.Error(entry.Key.Start, $"{name} needs 'cert' (its key may sit in the same file, or in 'key')");
                continue;
            }

            if (ReadServerCertificate(section, certNode, $"'{key}.cert' of {what}", $"'{key}.key' of {what}") is { } certificate)
            {
                certificates.Add(new SniCertificate(pattern, certificate));
            }
        }

        return certificates;
    }

    private ServerCertificate? ReadServerCertificate(Section section, ConfigNode certNode, string certName, string keyName)
    {
        if (Path("cert", certNode) is not { } certPath)
        {
            return null;
        }

        var keyNode = section.Get("key");
        var keyPath = keyNode is null ? null : Path("key", keyNode);
        if (keyNode is not null && keyPath is null)
        {
            return null;
        }

        if (LoadPair(certPath, keyPath, certName, keyName) is not { } pair || pair.Context is null)
        {
            return null;
        }

        return new ServerCertificate(pair.Certificate, pair.Context, certPath.Scalar.Raw);
    }

    /// <summary>A file path key's value, resolved against the configuration file's directory.</summary>
    private FilePath? Path(string key, ConfigNode node)
    {
        if (values.Scalar(key, node, "a file path") is not { } scalar)
        {
            return null;
        }

        var text = scalar.Value.Trim();
        if (text.Length == 0 || text.Contains('\0', StringComparison.Ordinal))
        {
            Diagnostics.Error(scalar.Start, $"'{key}' must be a file path, got {scalar.Shown}");
            return null;
        }

        var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDirectory, text));
        return new FilePath(scalar, full);
    }

    /// <param name="Full">The absolute path the file is read from.</param>
    private sealed record FilePath(ConfigScalar Scalar, string Full)
    {
        /// <summary>For messages: as written, with the absolute path when that differs and is not from the environment.</summary>
        public string Shown => Scalar.Expanded || System.IO.Path.IsPathRooted(Scalar.Value.Trim())
            ? Scalar.Shown
            : $"{Scalar.Shown} ({DiagnosticText.Printable(Full)})";
    }

    private PemFiles.PemContents? ReadPem(FilePath path, string name)
    {
        if (!_files.Contains(path.Full, StringComparer.Ordinal))
        {
            _files.Add(path.Full);
        }

        if (PemFiles.ReadText(path.Full, showReason: !path.Scalar.Expanded, out var readError) is not { } text)
        {
            Diagnostics.Error(path.Scalar.Start, $"{name}: cannot read {path.Shown}: {readError}");
            return null;
        }

        if (PemFiles.Parse(text, out var parseError) is not { } contents)
        {
            Diagnostics.Error(path.Scalar.Start, $"{name}: {path.Shown} holds a damaged certificate: {parseError}");
            return null;
        }

        if (contents is { Certificates.Count: 0, KeyBlocks.Count: 0, EncryptedKey: false, OtherBlocks: 0 })
        {
            Diagnostics.Error(path.Scalar.Start, $"{name}: {path.Shown} is not a PEM file (no '-----BEGIN ...-----' block); a DER certificate converts with 'openssl x509 -inform der -in FILE -out FILE.pem'");
            return null;
        }

        return contents;
    }

    private sealed record Pair(X509Certificate2 Certificate, SslStreamCertificateContext? Context);

    /// <summary>
    /// The first certificate of <paramref name="certPath"/> with its private key (from <paramref name="keyPath"/>, else the
    /// certificate file), and a context holding the chain: the file's other certificates.
    /// </summary>
    private Pair? LoadPair(FilePath certPath, FilePath? keyPath, string certName, string keyName)
    {
        // One pair named by several servers or patterns is loaded, and its chain context built, once per load.
        if (_pairs.TryGetValue((certPath.Full, keyPath?.Full), out var loaded))
        {
            WarnOnExpiry(certPath, certName, loaded.Certificate);
            return loaded;
        }

        // Both files are read before either is judged, so a mistake in each is reported in one go.
        var certFile = ReadPem(certPath, certName);
        if (certFile is { Certificates.Count: 0 })
        {
            var swapped = certFile.KeyBlocks.Count > 0 || certFile.EncryptedKey ? " but a private key; are 'cert' and 'key' swapped?" : " (no '-----BEGIN CERTIFICATE-----' block)";
            Diagnostics.Error(certPath.Scalar.Start, $"{certName}: {certPath.Shown} holds no certificate{swapped}");
            certFile = null;
        }

        var (keyFile, keyAt, keyWhat) = keyPath is null ? (certFile, certPath, certName) : (ReadPem(keyPath, keyName), keyPath, keyName);
        if (keyFile is { KeyBlocks.Count: 0 })
        {
            var problem = keyFile.EncryptedKey
                ? $"holds an encrypted private key, and tpt asks for no passphrase; decrypt it with 'openssl pkey -in {KeyFileName(keyAt)} -out {KeyFileName(keyAt)}.plain' and keep that file readable only by tpt"
                : keyPath is null
                    ? "holds no private key; put the key in the same file or give it in 'key'"
                    : "holds no private key (no '-----BEGIN PRIVATE KEY-----', 'RSA PRIVATE KEY' or 'EC PRIVATE KEY' block)";
            Diagnostics.Error(keyAt.Scalar.Start, $"{keyWhat}: {keyAt.Shown} {problem}");
            keyFile = null;
        }

        if (certFile is null || keyFile is null)
        {
            return null;
        }

        var leaf = certFile.Certificates[0];
        if (PemFiles.WithKey(leaf, keyFile.KeyBlocks[0], out var keyError) is not { } withKey)
        {
            var against = keyPath is null ? " (the file's first)" : $" in {certPath.Shown} (that file's first)";
            Diagnostics.Error(keyAt.Scalar.Start, $"{keyWhat}: {keyAt.Shown}: {keyError}{against}");
            return null;
        }

        WarnOnExpiry(certPath, certName, withKey);
        var chain = new X509Certificate2Collection();
        foreach (var extra in certFile.Certificates.Skip(1))
        {
            chain.Add(extra);
        }

        try
        {
            // Offline: building the chain must not fetch intermediates or OCSP answers while the configuration loads.
            var pair = new Pair(withKey, SslStreamCertificateContext.Create(withKey, chain, offline: true));
            _pairs.Add((certPath.Full, keyPath?.Full), pair);
            return pair;
        }
        catch (Exception e) when (e is CryptographicException or PlatformNotSupportedException or NotSupportedException)
        {
            Diagnostics.Error(certPath.Scalar.Start, $"{certName}: the certificate in {certPath.Shown} cannot be used for TLS: {e.GetType().Name}");
            return null;
        }
    }

    /// <summary>The key file's name for the openssl hint, or a placeholder when it came from the environment.</summary>
    private static string KeyFileName(FilePath path) => path.Scalar.Expanded ? "KEY" : DiagnosticText.Printable(path.Scalar.Value.Trim());

    private X509Certificate2Collection? LoadBundle(FilePath path, string name)
    {
        if (ReadPem(path, name) is not { } contents)
        {
            return null;
        }

        if (contents.Certificates.Count == 0)
        {
            Diagnostics.Error(path.Scalar.Start, $"{name}: {path.Shown} holds no certificate (no '-----BEGIN CERTIFICATE-----' block)");
            return null;
        }

        var now = time.GetUtcNow();
        var stale = contents.Certificates.Where(c => c.NotAfter.ToUniversalTime() < now + ExpiryWarning).ToList();
        if (stale.Count > 0)
        {
            var listed = string.Join(", ", stale.Take(3).Select(c => $"{DiagnosticText.Quote(c.Subject)} ({(c.NotAfter.ToUniversalTime() < now ? "expired" : "expires")} {Date(c.NotAfter)})"));
            var more = stale.Count > 3 ? string.Create(CultureInfo.InvariantCulture, $" and {stale.Count - 3} more") : "";
            Diagnostics.Warning(path.Scalar.Start, string.Create(CultureInfo.InvariantCulture, $"{name}: {stale.Count} of the {contents.Certificates.Count} certificate(s) in {path.Shown} expired or expire within {ExpiryWarning.Days} days: {listed}{more}"));
        }

        return [.. contents.Certificates];
    }

    private void WarnOnExpiry(FilePath path, string name, X509Certificate2 certificate)
    {
        var now = time.GetUtcNow();
        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
        var notBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime());
        var subject = DiagnosticText.Quote(certificate.Subject);
        string? problem = null;
        if (notAfter < now)
        {
            problem = $"expired on {Date(certificate.NotAfter)}; peers will refuse it";
        }
        else if (notAfter < now + ExpiryWarning)
        {
            var left = (notAfter - now).TotalDays;
            var days = (int)Math.Round(left);
            problem = string.Create(CultureInfo.InvariantCulture, $"expires on {Date(certificate.NotAfter)} (in {(left < 1 ? "less than a day" : days == 1 ? "1 day" : $"{days} days")}); renew it");
        }
        else if (notBefore > now)
        {
            problem = $"is not valid before {Date(certificate.NotBefore)}; peers will refuse it until then (is the clock right?)";
        }

        if (problem is not null)
        {
            Diagnostics.Warning(path.Scalar.Start, $"{name}: the certificate {subject} in {path.Shown} {problem}");
        }
    }

    internal static string Date(DateTime local) =>
        local.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    private List<SslApplicationProtocol> ReadAlpn(ConfigNode node)
    {
        var protocols = new List<SslApplicationProtocol>();
        if (node is not ConfigSequence sequence)
        {
            Diagnostics.Error(node.Start, $"'alpn' must be a list of protocol names, for example [h2, http/1.1], got {node.Describe}");
            return protocols;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in sequence.Items)
        {
            if (values.Scalar("alpn", item, "a protocol name") is not { } scalar)
            {
                continue;
            }

            var name = scalar.Value.Trim();
            if (name.Length == 0 || Encoding.UTF8.GetByteCount(name) > MaxAlpnBytes || name.Any(char.IsControl))
            {
                Diagnostics.Error(scalar.Start, $"'alpn' entries must be protocol names of 1 to {MaxAlpnBytes} bytes without control characters (h2, http/1.1), got {scalar.Shown}");
                continue;
            }

            if (!seen.Add(name))
            {
                Diagnostics.Error(scalar.Start, $"'alpn' lists {scalar.Shown} twice");
                continue;
            }

            protocols.Add(new SslApplicationProtocol(name));
        }

        return protocols;
    }
}
