using System.Globalization;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Cli;

/// <summary>
/// Certificates and keys through the real binary: what <c>tpt check</c> shows and refuses, and reloads (SIGHUP) that
/// re-read the files, with a bad new certificate rejected while the running configuration stays. Certificates are
/// made by the real openssl beside the configuration file, which names them by relative paths.
/// </summary>
public sealed class TlsCertificateProcessTests
{
    /// <summary>A server that terminates with <c>server.pem</c>/<c>server.key</c>, an upstream that originates with a CA and client certificate, and a health server.</summary>
    private const string Yaml = """
        version: 2
        upstream:
          hub:
            address: tcp://127.0.0.1:9
            connect_timeout: 4s
            tls:
              server_name: hub.example.net
              verify: chain
              ca: tls/ca.pem
              cert: tls/client.pem
              key: tls/client.key
              alpn: [h2, http/1.1]
        servers:
          inspect:
            listen: ["127.0.0.1:0"]
            terminate_tls:
              cert: tls/server.pem
              key: tls/server.key
              client_ca: tls/ca.pem
              client_cert: optional
              alpn: [http/1.1]
            default: hub
          health:
            listen: ["127.0.0.1:0"]
            default: health
        """;

    /// <summary>A self-signed EC certificate in <c>tls/NAME.pem</c> and its key in <c>tls/NAME.key</c>.</summary>
    private static void Make(TempConfig config, string name, string commonName, int days = 30, string? encryptWith = null)
    {
        var directory = Path.Combine(config.Directory, "tls");
        Directory.CreateDirectory(directory);
        var key = Path.Combine(directory, $"{name}.key");
        List<string> args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", key, "-out", Path.Combine(directory, $"{name}.pem"),
            "-days", days.ToString(CultureInfo.InvariantCulture), "-subj", $"/CN={commonName}", "-addext", $"subjectAltName=DNS:{commonName},IP:127.0.0.1"];
        args.AddRange(encryptWith is null ? ["-nodes"] : ["-passout", $"pass:{encryptWith}"]);
        var result = OpenSsl.Run(args);
        Assert.True(result.ExitCode == 0, result.Output);
    }

    private static TempConfig WithCertificates()
    {
        var config = new TempConfig(Yaml);
        Make(config, "ca", "Test CA");
        Make(config, "client", "client.example");
        Make(config, "server", "inspect.example");
        return config;
    }

    private static IEnumerable<string> KeyLines(TempConfig config) =>
        Directory.GetFiles(Path.Combine(config.Directory, "tls"), "*.key").SelectMany(File.ReadAllLines).Where(l => !l.StartsWith("-----", StringComparison.Ordinal));

    [Fact]
    public async Task Check_shows_each_certificate_and_the_upstream_tls_settings_and_no_key()
    {
        using var config = WithCertificates();
        var (exit, stdout, stderr) = await TptProcess.RunToExitAsync(["check", "-c", config.Path]);
        Assert.True(exit == 0, stdout + stderr);

        Assert.Contains("    terminate_tls: client_cert optional, alpn http/1.1", stdout, StringComparison.Ordinal);
        Assert.Matches(@"      cert tls/server\.pem: subject CN=inspect\.example, names inspect\.example, 127\.0\.0\.1, expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", stdout);
        Assert.Contains("      client_ca: 1 certificate(s): CN=Test CA (expires ", stdout, StringComparison.Ordinal);
        Assert.Contains("  hub: tcp://127.0.0.1:9, connect_timeout 4s", stdout, StringComparison.Ordinal);
        Assert.Contains("    tls: verify chain, server_name hub.example.net, alpn h2, http/1.1", stdout, StringComparison.Ordinal);
        Assert.Contains("      ca (added to the system's roots): 1 certificate(s): CN=Test CA", stdout, StringComparison.Ordinal);
        Assert.Contains("      client cert: subject CN=client.example, names client.example, 127.0.0.1, expires ", stdout, StringComparison.Ordinal);

        var output = stdout + stderr;
        Assert.DoesNotContain("PRIVATE KEY", output, StringComparison.Ordinal);
        Assert.All(KeyLines(config), l => Assert.DoesNotContain(l, output, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Check_warns_at_the_key_about_a_certificate_that_expires_within_seven_days()
    {
        using var config = WithCertificates();
        Make(config, "server", "inspect.example", days: 3);
        var (exit, stdout, stderr) = await TptProcess.RunToExitAsync(["check", "-c", config.Path]);
        Assert.True(exit == 0, stdout + stderr);
        Assert.Matches(@"tpt\.yaml:17:13: warning: 'terminate_tls\.cert' of server 'inspect': the certificate 'CN=inspect\.example' in 'tls/server\.pem' \(\S+\) expires on .* \(in 3 days\); renew it", stderr);
    }

    [Fact]
    public async Task An_encrypted_key_fails_the_check_at_its_key_and_says_how_to_decrypt_it()
    {
        using var config = WithCertificates();
        Make(config, "server", "inspect.example", encryptWith: "Zq9passphrase");
        var (exit, stdout, stderr) = await TptProcess.RunToExitAsync(["check", "-c", config.Path]);
        Assert.Equal(1, exit);
        Assert.Contains("tpt.yaml:18:12: error: 'terminate_tls.key' of server 'inspect': 'tls/server.key'", stderr, StringComparison.Ordinal);
        Assert.Contains("holds an encrypted private key", stderr, StringComparison.Ordinal);
        Assert.Contains("openssl pkey -in tls/server.key -out tls/server.key.plain", stderr, StringComparison.Ordinal);
        Assert.Contains("nothing was started", stderr, StringComparison.Ordinal);
        Assert.Empty(stdout);
    }

    [Fact]
    public async Task The_service_does_not_start_with_a_key_that_is_not_the_certificates()
    {
        using var config = WithCertificates();
        File.Copy(Path.Combine(config.Directory, "tls", "client.key"), Path.Combine(config.Directory, "tls", "server.key"), overwrite: true);
        var (exit, _, stderr) = await TptProcess.RunToExitAsync(["-c", config.Path]);
        Assert.Equal(1, exit);
        Assert.Contains("tpt.yaml:18:12: error: 'terminate_tls.key' of server 'inspect': 'tls/server.key'", stderr, StringComparison.Ordinal);
        Assert.Contains("the private key does not match the certificate in 'tls/server.pem'", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Listening", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reload_re_reads_the_certificate_files_and_a_bad_new_certificate_keeps_the_running_configuration()
    {
        using var config = WithCertificates();
        await using var tpt = await TptProcess.StartAsync(config.Path, 2);

        // "Listening" is logged when the sockets are bound, before the hosted services (the SIGHUP handler among them)
        // start; the health server answering means they have.
        Assert.Contains("tpt_config_generation 1", (await HttpProbe.GetAsync(tpt.EndPoint("health"), "/metrics")).Body, StringComparison.Ordinal);

        // A certificate replaced by one whose key is another's: the reload is rejected, and says which file and why.
        var serverKey = Path.Combine(config.Directory, "tls", "server.key");
        var goodKey = File.ReadAllText(serverKey);
        File.Copy(Path.Combine(config.Directory, "tls", "client.key"), serverKey, overwrite: true);
        tpt.Signal(TptProcess.SIGHUP);
        await tpt.WaitForLineAsync(l => l.Contains("Reload rejected: 1 error(s); still running generation 1", StringComparison.Ordinal));
        Assert.Contains(tpt.Lines, l => l.Contains("Reload:", StringComparison.Ordinal)
            && l.Contains("tpt.yaml:18:12: error: 'terminate_tls.key' of server 'inspect'", StringComparison.Ordinal)
            && l.Contains("does not match the certificate", StringComparison.Ordinal));
        var metrics = await HttpProbe.GetAsync(tpt.EndPoint("health"), "/metrics");
        Assert.Contains("tpt_config_generation 1", metrics.Body, StringComparison.Ordinal);

        // The configuration file never changed: a renewed pair (one that expires soon, so the reload says it read
        // the new file) is picked up by SIGHUP alone.
        File.WriteAllText(serverKey, goodKey);
        Make(config, "server", "renewed.example", days: 3);
        tpt.Signal(TptProcess.SIGHUP);
        await tpt.WaitForLineAsync(l => l.Contains("Reloaded: generation 2", StringComparison.Ordinal));
        Assert.Contains(tpt.Lines, l => l.Contains("the certificate 'CN=renewed.example' in 'tls/server.pem'", StringComparison.Ordinal)
            && l.Contains("renew it", StringComparison.Ordinal));
        Assert.All(KeyLines(config), k => Assert.DoesNotContain(tpt.Lines, l => l.Contains(k, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task With_watch_a_renewed_certificate_is_served_without_a_signal_or_a_change_of_the_configuration_file()
    {
        using var config = WithCertificates();
        await using var tpt = await TptProcess.StartAsync(config.Path, 2, new Dictionary<string, string?>(), ["--watch"]);
        await tpt.WaitForLineAsync(l => l.Contains("and 5 certificate file(s) it names for changes", StringComparison.Ordinal));
        var inspect = tpt.EndPoint("inspect");
        Assert.Contains("CN=inspect.example", OpenSsl.Client(inspect, "inspect.example").Output.Replace(" = ", "=", StringComparison.Ordinal), StringComparison.Ordinal);

        // openssl writes the new key, then the certificate: --watch waits until both have settled.
        Make(config, "server", "renewed.example");
        await tpt.WaitForLineAsync(l => l.Contains("Reloaded: generation 2", StringComparison.Ordinal), timeout: TimeSpan.FromSeconds(30));
        Assert.Contains("CN=renewed.example", OpenSsl.Client(inspect, "renewed.example").Output.Replace(" = ", "=", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain(tpt.Lines, l => l.Contains("Reload rejected", StringComparison.Ordinal));
    }
}
