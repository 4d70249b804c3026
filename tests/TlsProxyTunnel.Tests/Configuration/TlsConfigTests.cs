using System.Net.Security;
using Microsoft.Extensions.Time.Testing;
using TlsProxyTunnel.Configuration;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Configuration;

/// <summary>
/// <c>upstream.NAME: {address, connect_timeout, tls}</c> and <c>servers.NAME.terminate_tls</c>: what they load, and every
/// mistake as an error or warning at its key. Certificates are written by the real openssl into a temporary directory
/// beside the configuration file, whose relative paths resolve against that directory.
/// </summary>
public sealed class TlsConfigTests : IDisposable
{
    private readonly CertificateDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>An upstream <c>hub</c> whose <c>tls</c> body starts on line 6 (indented 6).</summary>
    private static string Upstream(string tlsBody, string address = "tcp://hub.example.net:1443") => $"""
        version: 2
        upstream:
          hub:
            address: {address}
            tls:
        {tlsBody}
        servers:
          web:
            listen: ["127.0.0.1:8443"]
            default: hub
        """;

    /// <summary>A server <c>web</c> whose <c>terminate_tls</c> body starts on line 6 (indented 6).</summary>
    private static string Terminate(string body, string serverExtra = "") => $"""
        version: 2
        servers:
          web:
            listen: ["127.0.0.1:8443"]
            terminate_tls:
        {body}
        {serverExtra}
        """;

    private ConfigLoadResult LoadHere(string yaml, TimeProvider? time = null, Func<string, string?>? environment = null) =>
        ConfigLoader.Load(_dir.Config(yaml), environment ?? Env(), time);

    private ProxyConfig LoadHereOk(string yaml, TimeProvider? time = null)
    {
        var result = LoadHere(yaml, time);
        Assert.True(result.Succeeded, string.Join(Environment.NewLine, result.Diagnostics));
        return result.Config!;
    }

    private ConfigDiagnostic SingleErrorHere(string yaml, Func<string, string?>? environment = null)
    {
        var result = LoadHere(yaml, environment: environment);
        var errors = result.Errors.ToList();
        Assert.True(errors.Count == 1, "expected one error, got:" + Environment.NewLine + string.Join(Environment.NewLine, result.Diagnostics));
        Assert.Null(result.Config);
        return errors[0];
    }

    private static void At(ConfigDiagnostic diagnostic, int line, int column)
    {
        Assert.True(diagnostic.Line == line && diagnostic.Column == column, $"expected {line}:{column}, got {diagnostic}");
    }

    // ---- the mapping form of an upstream

    [Fact]
    public void A_mapping_with_only_an_address_means_the_same_as_the_plain_string()
    {
        var plain = LoadOk("version: 2\nupstream:\n  hub: tcp://hub.example.net:1443\nservers:\n  web:\n    listen: [\"127.0.0.1:8443\"]\n    default: hub\n").Upstreams["hub"];
        var mapped = LoadOk("version: 2\nupstream:\n  hub: {address: \"tcp://hub.example.net:1443\"}\nservers:\n  web:\n    listen: [\"127.0.0.1:8443\"]\n    default: hub\n").Upstreams["hub"];
        Assert.Equal(plain, mapped);
        Assert.Null(mapped.Tls);
        Assert.Null(mapped.ConnectTimeout);
    }

    [Fact]
    public void Connect_timeout_and_an_empty_tls_mapping_give_tls_with_every_default()
    {
        var hub = LoadOk("version: 2\nupstream:\n  hub:\n    address: tcp6://[::1]:1443\n    connect_timeout: 4s\n    tls: {}\nservers:\n  web:\n    listen: [\"127.0.0.1:8443\"]\n    default: hub\n").Upstreams["hub"];
        Assert.Equal(TimeSpan.FromSeconds(4), hub.ConnectTimeout);
        Assert.Equal(("::1", 1443, AddressFamilyFilter.V6), (hub.Host, hub.Port, hub.Family));
        var tls = Assert.IsType<UpstreamTlsSettings>(hub.Tls);
        Assert.Equal(TlsVerifyMode.Full, tls.Verify);
        Assert.Null(tls.ServerName);
        Assert.False(tls.ServerNameFromClient);
        Assert.Empty(tls.ExtraRoots);
        Assert.False(tls.CaOnly);
        Assert.Null(tls.ClientCertificate);
        Assert.Empty(tls.Alpn);
    }

    [Fact]
    public void Every_upstream_tls_key_is_read_and_its_files_loaded()
    {
        var (ca, _) = _dir.SelfSigned("ca", 60, "Hub CA");
        var (cert, key) = _dir.SelfSigned("client", 30, "client.example");
        var config = LoadHereOk(Upstream($"""
                  server_name: Hub.Example.NET.
                  verify: chain
                  ca: {Path.GetFileName(ca)}
                  ca_only: true
                  cert: {cert}
                  key: {Path.GetFileName(key)}
                  alpn: [h2, http/1.1]
            """));
        var tls = config.Upstreams["hub"].Tls!;
        Assert.Equal("hub.example.net", tls.ServerName);
        Assert.Null(tls.ServerNameWritten);
        Assert.Equal(TlsVerifyMode.Chain, tls.Verify);
        Assert.True(tls.CaOnly);
        Assert.Equal("CN=Hub CA", Assert.Single(tls.ExtraRoots).Subject);
        Assert.True(tls.ClientCertificate is { HasPrivateKey: true, Subject: "CN=client.example" });
        Assert.NotNull(tls.ClientCertificateContext);
        Assert.Equal([SslApplicationProtocol.Http2, SslApplicationProtocol.Http11], tls.Alpn);
    }

    [Fact]
    public void Server_name_from_client_forwards_the_clients_name()
    {
        var tls = LoadOk(Upstream("      server_name: from_client")).Upstreams["hub"].Tls!;
        Assert.True(tls.ServerNameFromClient);
        Assert.Null(tls.ServerName);
    }

    [Fact]
    public void The_key_may_sit_in_the_certificate_file()
    {
        var (cert, key) = _dir.SelfSigned("both");
        var both = _dir.Write("both-in-one.pem", File.ReadAllText(key) + File.ReadAllText(cert));
        var tls = LoadHereOk(Upstream($"      cert: {both}")).Upstreams["hub"].Tls!;
        Assert.True(tls.ClientCertificate!.HasPrivateKey);
    }

    [Fact]
    public void Verify_none_warns_at_load_and_ca_beside_it_warns_that_it_is_unused()
    {
        var (ca, _) = _dir.SelfSigned("ca");
        var result = LoadHere(Upstream($"      verify: none\n      ca: {ca}"));
        Assert.True(result.Succeeded, string.Join('\n', result.Diagnostics));
        Assert.Equal(TlsVerifyMode.None, result.Config!.Upstreams["hub"].Tls!.Verify);
        var warnings = result.Warnings.ToList();
        Assert.Contains(warnings, w => w.Line == 6 && w.Column == 15 && w.Message.Contains("not checked at all", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Line == 7 && w.Message.Contains("'ca' of upstream 'hub' is not used", StringComparison.Ordinal));
    }

    public static TheoryData<string, string, int, int, string> UpstreamErrors => new()
    {
        { "unknown key in the mapping", "version: 2\nupstream:\n  hub:\n    adress: tcp://a.example:1\nservers:\n  web:\n    listen: [\"127.0.0.1:8443\"]\n    default: hub\n", 4, 5, "unknown key 'adress' in upstream 'hub'; did you mean 'address'?" },
        { "no address", "version: 2\nupstream:\n  hub:\n    connect_timeout: 4s\nservers:\n  web:\n    listen: [\"127.0.0.1:8443\"]\n    default: hub\n", 4, 5, "upstream 'hub' needs 'address'" },
        { "bad address", "version: 2\nupstream:\n  hub:\n    address: http://a.example:1\nservers:\n  web:\n    listen: [\"127.0.0.1:8443\"]\n    default: hub\n", 4, 14, "the scheme 'http' is not supported" },
        { "bad connect_timeout", "version: 2\nupstream:\n  hub:\n    address: tcp://a.example:1\n    connect_timeout: 4\nservers:\n  web:\n    listen: [\"127.0.0.1:8443\"]\n    default: hub\n", 5, 22, "(a bare number has no unit)" },
        { "a list", "version: 2\nupstream:\n  hub: [tcp://a.example:1]\nservers:\n  web:\n    listen: [\"127.0.0.1:8443\"]\n    default: hub\n", 3, 8, "or a mapping with 'address'" },
        { "unknown key in tls", Upstream("      verfy: full"), 6, 7, "unknown key 'verfy' in 'tls' of upstream 'hub'; did you mean 'verify'?" },
        { "tls not a mapping", Upstream("        true").Replace("tls:\n        true", "tls: true", StringComparison.Ordinal), 5, 10, "'tls' of upstream 'hub' must be a mapping" },
        { "bad verify", Upstream("      verify: ful"), 6, 15, "'verify' must be one of full, chain, none, got 'ful'; did you mean 'full'?" },
        { "ca_only without ca", Upstream("      ca_only: true"), 6, 16, "'ca_only: true' of upstream 'hub' needs 'ca'" },
        { "key without cert", Upstream("      key: client.key"), 6, 7, "'key' of upstream 'hub' needs 'cert'" },
        { "server_name an IP", Upstream("      server_name: 10.0.0.5"), 6, 20, "is an IP address; SNI carries host names only" },
        { "server_name not a name", Upstream("      server_name: bad_name!"), 6, 20, "'server_name' must be a host name or 'from_client', got 'bad_name!'" },
        { "alpn not a list", Upstream("      alpn: h2"), 6, 13, "'alpn' must be a list of protocol names" },
        { "alpn twice", Upstream("      alpn: [h2, h2]"), 6, 18, "'alpn' lists 'h2' twice" },
        { "alpn empty name", Upstream("      alpn: [\"\"]"), 6, 14, "'alpn' entries must be protocol names of 1 to 255 bytes" },
        { "cert missing", Upstream("      cert: missing.pem"), 6, 13, "'tls.cert' of upstream 'hub': cannot read 'missing.pem' (" },
    };

    [Theory]
    [MemberData(nameof(UpstreamErrors))]
    public void Each_upstream_mistake_is_one_error_at_its_key(string what, string yaml, int line, int column, string message)
    {
        var error = SingleErrorHere(yaml);
        Assert.True(error.Message.Contains(message, StringComparison.Ordinal), $"{what}: {error}");
        At(error, line, column);
    }

    // ---- certificate and key files

    [Fact]
    public void A_missing_file_names_the_path_as_written_and_where_it_was_looked_for()
    {
        var error = SingleErrorHere(Upstream("      cert: certs/client.pem"));
        Assert.Contains($"cannot read 'certs/client.pem' ({_dir.File("certs/client.pem")}): the file does not exist", error.Message, StringComparison.Ordinal);
        At(error, 6, 13);
    }

    [Fact]
    public void A_missing_certificate_and_a_missing_key_are_both_reported_at_once()
    {
        var result = LoadHere(Terminate("      cert: gone.pem\n      key: gone.key", "    default: echo"));
        Assert.Collection(
            result.Errors,
            e => Assert.True(e is { Line: 6, Column: 13 } && e.Message.Contains("cannot read 'gone.pem'", StringComparison.Ordinal), e.ToString()),
            e => Assert.True(e is { Line: 7, Column: 12 } && e.Message.Contains("cannot read 'gone.key'", StringComparison.Ordinal), e.ToString()));
    }

    [Fact]
    public void A_directory_is_not_a_certificate()
    {
        Directory.CreateDirectory(_dir.File("certs"));
        var error = SingleErrorHere(Upstream("      cert: certs"));
        Assert.Contains("it is a directory, not a file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_fails_to_read_is_an_error_and_the_runtimes_message_is_kept_out_when_the_path_is_secret()
    {
        // Reading a process's memory file from offset 0 fails with EIO (tests run as root, so a permission error cannot be made).
        const string Unreadable = "/proc/self/mem";
        var visible = SingleErrorHere(Upstream($"      ca: {Unreadable}"));
        Assert.Contains($"cannot read '{Unreadable}': ", visible.Message, StringComparison.Ordinal);
        At(visible, 6, 11);

        var hidden = SingleErrorHere(Upstream("      ca: ${CA_FILE}"), Env(("CA_FILE", Unreadable)));
        Assert.Contains("cannot read '${CA_FILE}' (value from the environment not shown): it cannot be read", hidden.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("proc", hidden.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_is_not_PEM_says_so_and_how_to_convert_DER()
    {
        var (cert, _) = _dir.SelfSigned("der");
        var der = _dir.File("cert.der");
        CertificateDirectory.OpenSsl("x509", "-in", cert, "-outform", "der", "-out", der);
        var error = SingleErrorHere(Upstream($"      cert: cert.der"));
        Assert.Contains("'cert.der'", error.Message, StringComparison.Ordinal);
        Assert.Contains("is not a PEM file", error.Message, StringComparison.Ordinal);
        Assert.Contains("openssl x509 -inform der", error.Message, StringComparison.Ordinal);
        At(error, 6, 13);
    }

    [Fact]
    public void A_key_given_as_the_certificate_asks_whether_they_are_swapped()
    {
        var (cert, key) = _dir.SelfSigned("swap");
        var errors = LoadHere(Terminate($"      cert: {Path.GetFileName(key)}\n      key: {Path.GetFileName(cert)}")).Errors.ToList();
        Assert.Equal(2, errors.Count);
        Assert.Contains("holds no certificate but a private key; are 'cert' and 'key' swapped?", errors[0].Message, StringComparison.Ordinal);
        At(errors[0], 6, 13);
        Assert.Contains("holds no private key", errors[1].Message, StringComparison.Ordinal);
        At(errors[1], 7, 12);
    }

    [Fact]
    public void A_certificate_without_a_key_and_no_key_file_is_an_error_at_cert()
    {
        var (cert, _) = _dir.SelfSigned("nokey");
        var error = SingleErrorHere(Terminate($"      cert: {Path.GetFileName(cert)}"));
        Assert.Contains("holds no private key; put the key in the same file or give it in 'key'", error.Message, StringComparison.Ordinal);
        At(error, 6, 13);
    }

    [Fact]
    public void A_key_file_without_a_key_is_an_error_at_key()
    {
        var (cert, _) = _dir.SelfSigned("nokey");
        var error = SingleErrorHere(Terminate($"      cert: {Path.GetFileName(cert)}\n      key: {Path.GetFileName(cert)}"));
        Assert.Contains("'terminate_tls.key' of server 'web'", error.Message, StringComparison.Ordinal);
        Assert.Contains("holds no private key (no '-----BEGIN PRIVATE KEY-----'", error.Message, StringComparison.Ordinal);
        At(error, 7, 12);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_encrypted_key_says_it_must_be_decrypted_and_how(bool traditional)
    {
        var (cert, key) = _dir.SelfSigned("enc");
        var encrypted = Path.GetFileName(_dir.Encrypted(key, traditional));
        var error = SingleErrorHere(Terminate($"      cert: {Path.GetFileName(cert)}\n      key: {encrypted}"));
        Assert.Contains("holds an encrypted private key", error.Message, StringComparison.Ordinal);
        Assert.Contains($"openssl pkey -in {encrypted} -out {encrypted}.plain", error.Message, StringComparison.Ordinal);
        At(error, 7, 12);
    }

    [Fact]
    public void A_key_that_is_not_the_certificates_is_an_error_at_key()
    {
        var (cert, _) = _dir.SelfSigned("one");
        var (_, otherKey) = _dir.SelfSigned("two");
        var error = SingleErrorHere(Terminate($"      cert: one.pem\n      key: two.key"));
        Assert.Contains("'two.key'", error.Message, StringComparison.Ordinal);
        Assert.Contains("the private key does not match the certificate in 'one.pem'", error.Message, StringComparison.Ordinal);
        At(error, 7, 12);
    }

    [Fact]
    public void An_RSA_key_for_an_EC_certificate_does_not_match_either()
    {
        _dir.SelfSigned("ec");
        CertificateDirectory.OpenSsl("genrsa", "-out", _dir.File("rsa.key"), "2048");
        var error = SingleErrorHere(Terminate("      cert: ec.pem\n      key: rsa.key"));
        Assert.Contains("does not match the certificate", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_ca_file_with_no_certificate_is_an_error()
    {
        var (_, key) = _dir.SelfSigned("x");
        var error = SingleErrorHere(Upstream($"      ca: {Path.GetFileName(key)}"));
        Assert.Contains("holds no certificate", error.Message, StringComparison.Ordinal);
        At(error, 6, 11);
    }

    [Fact]
    public void A_damaged_certificate_block_is_an_error()
    {
        var bad = _dir.Write("bad.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        var error = SingleErrorHere(Upstream($"      ca: {bad}"));
        Assert.Contains("is not a valid X.509 certificate", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_server_certificate_file_with_a_chain_keeps_the_leaf_and_sends_the_rest()
    {
        var (_, chain, key) = _dir.Chain("leaf.example");
        var terminate = LoadHereOk(Terminate($"      cert: {Path.GetFileName(chain)}\n      key: {Path.GetFileName(key)}", "    default: echo")).Servers[0].TerminateTls!;
        Assert.Equal("CN=leaf.example", terminate.Default!.Certificate.Subject);
        Assert.True(terminate.Default.Certificate.HasPrivateKey);
        Assert.Equal(Path.GetFileName(chain), terminate.Default.Display);
        Assert.Same(terminate.Default.Certificate, terminate.Default.Context.TargetCertificate);
    }

    [Fact]
    public void Relative_paths_resolve_against_the_configuration_files_directory_not_the_working_directory()
    {
        Directory.CreateDirectory(_dir.File("tls"));
        var (cert, key) = _dir.SelfSigned("server");
        File.Move(cert, _dir.File("tls/server.pem"));
        File.Move(key, _dir.File("tls/server.key"));
        Assert.NotEqual(_dir.Path, Directory.GetCurrentDirectory());
        var config = LoadHereOk(Terminate("      cert: tls/server.pem\n      key: ./tls/server.key", "    default: echo"));
        Assert.Equal("tls/server.pem", config.Servers[0].TerminateTls!.Default!.Display);
    }

    // ---- terminate_tls

    [Fact]
    public void Every_terminate_tls_key_is_read()
    {
        _dir.SelfSigned("server", 30, "www.example.com");
        _dir.SelfSigned("wild", 30, "*.example.com");
        var (clientsCa, _) = _dir.SelfSigned("clients-ca", 30, "Clients CA");
        var config = LoadHereOk(Terminate($"""
                  cert: server.pem
                  key: server.key
                  certs:
                    "*.Example.COM.": {"{"}cert: wild.pem, key: wild.key{"}"}
                    api.example.com:
                      cert: server.pem
                      key: server.key
                  client_ca: {Path.GetFileName(clientsCa)}
                  client_cert: require
                  alpn: [http/1.1]
            """, "    default: echo"));
        var server = config.Servers[0];
        Assert.True(server.Tls);
        var tls = server.TerminateTls!;
        Assert.Equal("CN=www.example.com", tls.Default!.Certificate.Subject);
        Assert.Equal(["*.example.com", "api.example.com"], tls.Certificates.Select(c => c.Pattern));
        Assert.Equal("CN=*.example.com", tls.Certificates[0].Certificate.Certificate.Subject);
        Assert.Same(tls.Default.Context, tls.Certificates[1].Certificate.Context);
        Assert.Equal("CN=Clients CA", Assert.Single(tls.ClientCa).Subject);
        Assert.Equal(ClientCertificateMode.Require, tls.ClientCertificate);
        Assert.Equal([SslApplicationProtocol.Http11], tls.Alpn);
        Assert.Equal(["server.pem", "server.key", "wild.pem", "wild.key", "clients-ca.pem"], config.CertificateFiles.Select(f => f[(_dir.Path.Length + 1)..]));
    }

    [Fact]
    public void Terminate_tls_implies_tls_so_sni_routes_still_apply_without_a_warning()
    {
        _dir.SelfSigned("server");
        var result = LoadHere(Terminate("      cert: server.pem\n      key: server.key", "    sni:\n      a.example: echo\n    default: ban"));
        Assert.True(result.Succeeded, string.Join('\n', result.Diagnostics));
        Assert.Empty(result.Diagnostics);
        Assert.True(result.Config!.Servers[0].Tls);
        Assert.Equal("a.example", Assert.Single(result.Config.Servers[0].Sni).Pattern);
    }

    public static TheoryData<string, string, int, int, string> TerminateErrors => new()
    {
        { "no cert", "      alpn: [h2]", 5, 5, "'terminate_tls' of server 'web' needs 'cert'" },
        { "unknown key", "      cert: server.pem\n      key: server.key\n      client_certs: require", 8, 7, "unknown key 'client_certs' in 'terminate_tls' of server 'web'; did you mean 'client_cert'?" },
        { "not a mapping", "        server.pem", 5, 20, "'terminate_tls' of server 'web' must be a mapping" },
        { "require without client_ca", "      cert: server.pem\n      key: server.key\n      client_cert: require", 8, 20, "'client_cert: require' of server 'web' needs 'client_ca'" },
        { "optional without client_ca", "      cert: server.pem\n      key: server.key\n      client_cert: optional", 8, 20, "'client_cert: optional' of server 'web' needs 'client_ca'" },
        { "bad client_cert", "      cert: server.pem\n      key: server.key\n      client_ca: server.pem\n      client_cert: required", 9, 20, "'client_cert' must be one of none, optional, require, got 'required'; did you mean 'require'?" },
        { "bad certs pattern", "      cert: server.pem\n      key: server.key\n      certs:\n        \"bad name\": {cert: server.pem, key: server.key}", 9, 9, "'certs' key 'bad name' is not a valid host name or '*.suffix' wildcard" },
        { "certs pattern twice", "      cert: server.pem\n      key: server.key\n      certs:\n        a.example: {cert: server.pem, key: server.key}\n        A.EXAMPLE.: {cert: server.pem, key: server.key}", 10, 9, "'certs' key 'A.EXAMPLE.' is the same name as 'a.example' (line 9)" },
        { "certs entry without cert", "      cert: server.pem\n      key: server.key\n      certs:\n        a.example: {key: server.key}", 9, 9, "'terminate_tls.certs[a.example]' of server 'web' needs 'cert'" },
        { "certs entry unknown key", "      cert: server.pem\n      key: server.key\n      certs:\n        a.example: {cert: server.pem, key: server.key, keys: x}", 9, 56, "unknown key 'keys' in 'terminate_tls.certs[a.example]' of server 'web'; did you mean 'key'?" },
        { "certs entry missing file", "      cert: server.pem\n      key: server.key\n      certs:\n        a.example: {cert: gone.pem, key: server.key}", 9, 27, "'terminate_tls.certs[a.example].cert' of server 'web': cannot read 'gone.pem'" },
        { "tls: false", "      cert: server.pem\n      key: server.key\n    tls: false", 8, 10, "'tls: false' contradicts 'terminate_tls' of server 'web'" },
    };

    [Theory]
    [MemberData(nameof(TerminateErrors))]
    public void Each_terminate_tls_mistake_is_one_error_at_its_key(string what, string body, int line, int column, string message)
    {
        _dir.SelfSigned("server");
        var yaml = body.StartsWith("        server.pem", StringComparison.Ordinal)
            ? Terminate(body, "    default: echo").Replace("terminate_tls:\n        server.pem", "terminate_tls: server.pem", StringComparison.Ordinal)
            : Terminate(body, "    default: echo");
        var error = SingleErrorHere(yaml);
        Assert.True(error.Message.Contains(message, StringComparison.Ordinal), $"{what}: {error}");
        At(error, line, column);
    }

    [Fact]
    public void Client_ca_without_client_cert_warns_that_it_is_unused()
    {
        _dir.SelfSigned("server");
        var result = LoadHere(Terminate("      cert: server.pem\n      key: server.key\n      client_ca: server.pem", "    default: echo"));
        Assert.True(result.Succeeded, string.Join('\n', result.Diagnostics));
        var warning = Assert.Single(result.Warnings);
        Assert.Contains("'client_ca' of server 'web' is not used because 'client_cert' is none", warning.Message, StringComparison.Ordinal);
        At(warning, 8, 7);
    }

    // ---- expiry, against the loader's clock

    [Fact]
    public void A_certificate_expiring_within_seven_days_warns_and_one_expiring_later_does_not()
    {
        var (cert, _) = _dir.SelfSigned("server", 30);
        var notAfter = new DateTimeOffset(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(cert).NotAfter.ToUniversalTime());
        var yaml = Terminate("      cert: server.pem\n      key: server.key", "    default: echo");

        Assert.Empty(LoadHere(yaml, new FakeTimeProvider(notAfter - TimeSpan.FromDays(8))).Diagnostics);

        var soon = LoadHere(yaml, new FakeTimeProvider(notAfter - TimeSpan.FromDays(3) - TimeSpan.FromHours(1)));
        Assert.True(soon.Succeeded);
        var warning = Assert.Single(soon.Warnings);
        Assert.Contains("the certificate 'CN=localhost' in 'server.pem'", warning.Message, StringComparison.Ordinal);
        Assert.Contains("(in 3 days); renew it", warning.Message, StringComparison.Ordinal);
        At(warning, 6, 13);
    }

    [Fact]
    public void An_expired_certificate_warns_but_loads()
    {
        var (cert, _) = _dir.SelfSigned("server", 30);
        var notAfter = new DateTimeOffset(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(cert).NotAfter.ToUniversalTime());
        var result = LoadHere(Upstream($"      cert: server.pem\n      key: server.key"), new FakeTimeProvider(notAfter + TimeSpan.FromDays(1)));
        Assert.True(result.Succeeded);
        Assert.Contains("expired on", Assert.Single(result.Warnings).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_certificate_not_valid_yet_warns()
    {
        var (cert, _) = _dir.SelfSigned("server", 30);
        var notBefore = new DateTimeOffset(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(cert).NotBefore.ToUniversalTime());
        var result = LoadHere(Terminate("      cert: server.pem\n      key: server.key", "    default: echo"), new FakeTimeProvider(notBefore - TimeSpan.FromDays(2)));
        Assert.Contains("is not valid before", Assert.Single(result.Warnings).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_expiring_ca_certificate_warns_once_for_its_file()
    {
        var (ca, _) = _dir.SelfSigned("ca", 30, "Old CA");
        var notAfter = new DateTimeOffset(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(ca).NotAfter.ToUniversalTime());
        var result = LoadHere(Upstream("      ca: ca.pem"), new FakeTimeProvider(notAfter - TimeSpan.FromDays(1)));
        var warning = Assert.Single(result.Warnings);
        Assert.Contains("1 of the 1 certificate(s) in 'ca.pem'", warning.Message, StringComparison.Ordinal);
        Assert.Contains("'CN=Old CA' (expires", warning.Message, StringComparison.Ordinal);
        At(warning, 6, 11);
    }

    // ---- secrets: environment values and key material

    [Fact]
    public void A_path_from_the_environment_is_shown_only_as_written()
    {
        var error = SingleErrorHere(Terminate("      cert: ${TLS_DIR}/server.pem"), Env(("TLS_DIR", "/srv/Zq9SecretDir")));
        Assert.Contains("'${TLS_DIR}/server.pem' (value from the environment not shown)", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Zq9SecretDir", error.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void A_path_from_the_environment_loads_and_the_summary_shows_it_as_written()
    {
        var (cert, key) = _dir.SelfSigned("server");
        var config = ConfigLoader.Load(_dir.Config(Terminate("      cert: ${CERT}\n      key: ${KEY}", "    default: echo")), Env(("CERT", cert), ("KEY", key)))!.Config!;
        var output = new StringWriter();
        ConfigSummary.Write(config, output);
        Assert.Contains("cert ${CERT}: subject CN=localhost", output.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(cert, output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_server_name_from_the_environment_is_shown_as_written()
    {
        var config = LoadOk(Upstream("      server_name: ${HUB_NAME}"), Env(("HUB_NAME", "zq9-hidden.example")));
        Assert.Equal("zq9-hidden.example", config.Upstreams["hub"].Tls!.ServerName);
        var output = new StringWriter();
        ConfigSummary.Write(config, output);
        Assert.Contains("server_name ${HUB_NAME}", output.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("zq9", output.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void No_key_material_appears_in_diagnostics_or_the_summary()
    {
        var (cert, key) = _dir.SelfSigned("server");
        var (_, otherKey) = _dir.SelfSigned("other");
        var keyLines = File.ReadAllLines(key).Concat(File.ReadAllLines(otherKey)).Where(l => !l.StartsWith("-----", StringComparison.Ordinal)).ToList();

        var mismatch = LoadHere(Terminate("      cert: server.pem\n      key: other.key"));
        var config = LoadHereOk(Upstream("      cert: server.pem\n      key: server.key") + "\n    terminate_tls: {cert: server.pem, key: server.key}\n");
        var summary = new StringWriter();
        ConfigSummary.Write(config, summary);

        var everything = string.Join('\n', mismatch.Diagnostics) + summary;
        Assert.DoesNotContain("PRIVATE KEY", everything, StringComparison.Ordinal);
        foreach (var line in keyLines)
        {
            Assert.DoesNotContain(line[..Math.Min(16, line.Length)], everything, StringComparison.Ordinal);
        }
    }

    // ---- tpt check's summary

    [Fact]
    public void The_summary_shows_certificates_and_upstream_tls_settings()
    {
        _dir.SelfSigned("server", 30, "www.example.com", "example.com");
        _dir.SelfSigned("ca", 30, "Hub CA");
        var config = LoadHereOk("""
            version: 2
            upstream:
              hub:
                address: tcp://hub.example.net:1443
                connect_timeout: 4s
                tls: {ca: ca.pem, ca_only: true, cert: server.pem, key: server.key, alpn: [h2, http/1.1]}
              ip:
                address: tcp://10.0.0.5:443
                tls: {verify: chain}
              relay:
                address: tcp://relay.example:443
                tls: {server_name: from_client}
            servers:
              web:
                listen: ["127.0.0.1:8443"]
                terminate_tls:
                  cert: server.pem
                  key: server.key
                  certs: {"*.example.org": {cert: server.pem, key: server.key}}
                  client_ca: ca.pem
                  client_cert: optional
                  alpn: [http/1.1]
                sni: {a.example: ip, b.example: relay}
                default: hub
            """);
        var output = new StringWriter();
        ConfigSummary.Write(config, output);
        var text = output.ToString();
        var expires = TlsReader.Date(config.Servers[0].TerminateTls!.Default!.Certificate.NotAfter);
        Assert.Contains("    terminate_tls: client_cert optional, alpn http/1.1\n", text, StringComparison.Ordinal);
        Assert.Contains($"      cert server.pem: subject CN=www.example.com, names www.example.com, example.com, expires {expires}\n", text, StringComparison.Ordinal);
        Assert.Contains("      cert for *.example.org server.pem: subject CN=www.example.com", text, StringComparison.Ordinal);
        Assert.Contains("      client_ca: 1 certificate(s): CN=Hub CA (expires ", text, StringComparison.Ordinal);
        Assert.Contains("  hub: tcp://hub.example.net:1443, connect_timeout 4s\n    tls: verify full, server_name the address's host, alpn h2, http/1.1\n", text, StringComparison.Ordinal);
        Assert.Contains("      ca (trusted alone): 1 certificate(s): CN=Hub CA", text, StringComparison.Ordinal);
        Assert.Contains($"      client cert: subject CN=www.example.com, names www.example.com, example.com, expires {expires}\n", text, StringComparison.Ordinal);
        Assert.Contains("    tls: verify chain, server_name none (an IP address: no SNI sent)\n", text, StringComparison.Ordinal);
        Assert.Contains("    tls: verify full, server_name from the client's SNI\n", text, StringComparison.Ordinal);
    }
}
