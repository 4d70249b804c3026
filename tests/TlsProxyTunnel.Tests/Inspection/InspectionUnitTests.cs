using System.Buffers;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Moq;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Connections.Stages;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Inspection;
using TlsProxyTunnel.Runtime;
using TlsProxyTunnel.Tls;
using TlsProxyTunnel.Upstreams.Health;
using static TlsProxyTunnel.Tests.Configuration.ConfigTestHelpers;

namespace TlsProxyTunnel.Tests.Inspection;

/// <summary>The parts of #15 below the process: configuration, filters, the capture line and writer, the minter, composition.</summary>
public sealed class InspectionUnitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tpt-inspect-unit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Capture_and_filters_are_read_with_their_defaults()
    {
        var config = LoadOk(WithServer($$"""
                capture: {path: "{{_dir}}/c.log"}
                filters:
                  - {direction: o, uppercase: true}
                  - {lowercase: true}
                  - direction: i
                    replace: {from: "a\xffb", to: ""}
                default: echo
            """));
        var server = config.Servers[0];
        Assert.Equal(new CaptureSettings($"{_dir}/c.log", CaptureMode.Truncate, $"{_dir}/c.log"), server.Capture);
        Assert.Equal([FilterDirections.Out, FilterDirections.Both, FilterDirections.In], server.Filters.Select(f => f.Directions));
        Assert.Equal([FilterKind.Uppercase, FilterKind.Lowercase, FilterKind.Replace], server.Filters.Select(f => f.Kind));
        Assert.Equal(new byte[] { (byte)'a', 0xff, (byte)'b' }, server.Filters[2].From);
        Assert.Empty(server.Filters[2].To);

        // tpt check shows them.
        using var summary = new StringWriter();
        ConfigSummary.Write(config, summary);
        Assert.Contains($"    capture: {_dir}/c.log (truncate)\n    filter o: uppercase\n    filter both: lowercase\n    filter i: replace 3 byte(s) with 0\n", summary.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("capture: {path: /nonexistent-dir-tpt/c.log}", "the directory of")]
    [InlineData("capture: {path: /tmp/c.log, mode: rotate}", "'mode' must be one of truncate, append")]
    [InlineData("filters: [{direction: o, uppercase: true, lowercase: true}]", "exactly one of uppercase, lowercase, replace (got uppercase, lowercase)")]
    [InlineData("filters: [{direction: x, uppercase: true}]", "'direction' must be one of i, o, both")]
    [InlineData("filters: [{replace: {from: \"\", to: x}}]", "must not be empty")]
    [InlineData("filters: [{replace: {from: \"\u20ac\", to: x}}]", "beyond one byte")]
    [InlineData("filters: [{module: modFiltCase}]", "unknown key 'module'")]
    public void Mistakes_in_capture_and_filters_are_errors_at_their_place(string body, string message)
    {
        var error = SingleError(WithServer($"    {body}\n    default: echo\n"));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Equal(6, error.Line);
    }

    [Fact]
    public void Fallback_name_needs_mint()
    {
        var result = Load(WithServer("""
                terminate_tls:
                  fallback_name: www.test
                default: echo
            """));
        Assert.Contains(result.Errors, e => e.Message.Contains("'fallback_name' of server 'web' needs 'mint'", StringComparison.Ordinal) && e.Line == 7);
    }

    [Fact]
    public void Filters_change_ascii_letters_only_and_replace_every_occurrence_in_a_chunk()
    {
        var filters = new[]
        {
            FilterSettings.Case(FilterDirections.Out, FilterKind.Uppercase),
            new FilterSettings(FilterDirections.In, FilterKind.Replace, "ab"u8.ToArray(), "xyz"u8.ToArray()),
            new FilterSettings(FilterDirections.In, FilterKind.Replace, "q"u8.ToArray(), "Q"u8.ToArray()),
            new FilterSettings(FilterDirections.In, FilterKind.Replace, "--"u8.ToArray(), []),
        };
        var toClient = ByteFilterChain.For(filters, FilterDirections.Out)!;
        var fromClient = ByteFilterChain.For(filters, FilterDirections.In)!;

        Assert.Equal("HELLO, \u00e9-Z!"u8.ToArray(), toClient.Apply("hello, \u00e9-z!"u8.ToArray()).ToArray());
        Assert.Equal("xyzqxyzQ"u8.ToArray().Select(b => b == 'q' ? (byte)'Q' : b), fromClient.Apply("ab--qabq"u8.ToArray()).ToArray());
        Assert.Equal("none"u8.ToArray(), fromClient.Apply("none"u8.ToArray()).ToArray());
        Assert.Null(ByteFilterChain.For([filters[0]], FilterDirections.In));
    }

    [Theory]
    [InlineData("127.0.0.1", 51234, "1700000000.000042 127.0.0.1:51234 i 474554202f0d0a\n")]
    [InlineData("::1", 443, "1700000000.000042 [::1]:443 i 474554202f0d0a\n")]
    [InlineData("::ffff:10.0.0.1", 80, "1700000000.000042 10.0.0.1:80 i 474554202f0d0a\n")]
    public void A_capture_line_is_prox_py_s_byte_for_byte(string address, int port, string expected)
    {
        var output = new ArrayBufferWriter<byte>();
        CaptureLine.Write(output, 1_700_000_000_000_042, CaptureAddress.Format(new IPEndPoint(IPAddress.Parse(address), port)), 'i', "GET /\r\n"u8);
        Assert.Equal(expected, Encoding.ASCII.GetString(output.WrittenSpan));
    }

    [Fact]
    public async Task Concurrent_chunks_become_whole_lines_whose_times_never_go_back()
    {
        var path = Path.Combine(_dir, "c.log");
        File.WriteAllText(path, "old\n");
        var writer = new CaptureWriter(new CaptureSettings(path, CaptureMode.Truncate, "c.log"), NullLogger.Instance);
        await Parallel.ForAsync(0, 8, async (task, _) =>
        {
            for (var i = 0; i < 500; i++)
            {
                await writer.AddAsync($"127.0.0.1:{task}", i % 2 == 0 ? 'i' : 'o', new byte[1 + (i % 300)]);
            }
        });
        await writer.CloseAsync();

        var lines = File.ReadAllLines(path);
        Assert.Equal(4000, lines.Length);
        var times = lines.Select(l => decimal.Parse(l.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(times.Order(), times);
        Assert.All(lines, l => Assert.Matches(@"^[0-9]+\.[0-9]{6} 127\.0\.0\.1:[0-7] [io] (00)+$", l));
    }

    [Fact]
    public async Task Append_keeps_what_the_file_held()
    {
        var path = Path.Combine(_dir, "c.log");
        File.WriteAllText(path, "1.000000 127.0.0.1:1 i 00\n");
        var writer = new CaptureWriter(new CaptureSettings(path, CaptureMode.Append, "c.log"), NullLogger.Instance);
        await writer.AddAsync("127.0.0.1:2", 'o', "A"u8);
        await writer.CloseAsync();
        Assert.Equal(2, File.ReadAllLines(path).Length);
    }

    [Fact]
    public async Task A_capture_that_cannot_be_written_is_logged_once_and_never_stalls_or_throws()
    {
        var logger = new Mock<ILogger>();
        logger.Setup(l => l.IsEnabled(It.IsAny<LogLevel>())).Returns(true);
        var writer = new CaptureWriter(new CaptureSettings(Path.Combine(_dir, "missing", "c.log"), CaptureMode.Truncate, "missing/c.log"), logger.Object);
        for (var i = 0; i < CaptureWriter.QueueCapacity * 2; i++)
        {
            await writer.AddAsync("127.0.0.1:1", 'i', "x"u8).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        }

        await writer.CloseAsync();
        Assert.Equal(CaptureWriter.QueueCapacity * 2, writer.Dropped);
        logger.Verify(l => l.Log(LogLevel.Error, It.Is<EventId>(e => e.Id == 150), It.IsAny<It.IsAnyType>(), It.IsAny<Exception?>(), It.IsAny<Func<It.IsAnyType, Exception?, string>>()), Times.Once);
    }

    [Fact]
    public async Task A_full_disk_is_logged_once_and_later_chunks_are_counted_not_written()
    {
        // /dev/full: opens fine, every write fails with ENOSPC.
        var logger = new Mock<ILogger>();
        logger.Setup(l => l.IsEnabled(It.IsAny<LogLevel>())).Returns(true);
        var writer = new CaptureWriter(new CaptureSettings("/dev/full", CaptureMode.Append, "/dev/full"), logger.Object);
        await writer.AddAsync("127.0.0.1:1", 'i', "first"u8);
        Assert.True(SpinWait.SpinUntil(() => writer.Dropped > 0 || Invocations(logger, 151) > 0, TimeSpan.FromSeconds(10)));
        for (var i = 0; i < 10; i++)
        {
            await writer.AddAsync("127.0.0.1:1", 'i', "more"u8).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        }

        await writer.CloseAsync();
        Assert.Equal(1, Invocations(logger, 151));
        Assert.Equal(11, writer.Dropped);
        Assert.Equal(1, Invocations(logger, 153));
    }

    private static int Invocations(Mock<ILogger> logger, int eventId) =>
        logger.Invocations.Count(i => i.Method.Name == nameof(ILogger.Log) && i.Arguments[1] is EventId e && e.Id == eventId);

    [Theory]
    [InlineData("rsa")]
    [InlineData("ec")]
    public void Minted_leaves_name_the_sni_are_cached_and_renewed_after_half_their_validity(string caKind)
    {
        using var ca = MakeCa(caKind);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var minter = new CertificateMinter(new MintSettings(ca, [], TimeSpan.FromDays(2), "ca.pem"), time);

        var first = minter.For("svc.test");
        Assert.Same(first, minter.For("svc.test"));
        var leaf = first.TargetCertificate;
        Assert.Equal("CN=svc.test", leaf.Subject);
        // SHA-256, signed with the CA's own key type.
        Assert.Equal(caKind == "rsa" ? "1.2.840.113549.1.1.11" : "1.2.840.10045.4.3.2", leaf.SignatureAlgorithm.Value);
        Assert.Contains("svc.test", leaf.GetNameInfo(X509NameType.DnsName, false), StringComparison.Ordinal);
        Assert.False(leaf.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Contains(leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>(), o => o.Value == "1.3.6.1.5.5.7.3.1");
        Assert.InRange(leaf.NotAfter.ToUniversalTime() - time.GetUtcNow().UtcDateTime, TimeSpan.FromDays(2) - TimeSpan.FromSeconds(1), TimeSpan.FromDays(2) + TimeSpan.FromSeconds(1));

        using var chain = new X509Chain { ChainPolicy = { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, VerificationTime = time.GetUtcNow().UtcDateTime } };
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        Assert.True(chain.Build(leaf), string.Join(", ", chain.ChainStatus.Select(s => s.StatusInformation)));

        Assert.NotSame(first, minter.For("other.test"));
        Assert.Equal(2, minter.MintedCount);

        time.Advance(TimeSpan.FromDays(1.01));
        Assert.NotSame(first, minter.For("svc.test"));
        Assert.Equal(3, minter.MintedCount);
    }

    [Fact]
    public void An_ip_address_is_minted_as_an_ip_san()
    {
        using var ca = MakeCa("ec");
        var minter = new CertificateMinter(new MintSettings(ca, [], TimeSpan.FromDays(1), "ca.pem"), TimeProvider.System);
        var san = minter.For("127.0.0.1").TargetCertificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal([IPAddress.Loopback], san.EnumerateIPAddresses());
        Assert.Empty(san.EnumerateDnsNames());
    }

    [Fact]
    public void Only_servers_with_capture_or_filters_get_the_inspecting_stage_so_others_keep_the_socket_fast_path()
    {
        var upstream = new UpstreamConfig { Name = "up", Kind = UpstreamKind.Tcp, Host = "127.0.0.1", Port = 1, Display = "tcp://127.0.0.1:1" };
        var filters = new[] { FilterSettings.Case(FilterDirections.Out, FilterKind.Uppercase) };
        var config = new ProxyConfig
        {
            SourcePath = "test.yaml",
            Version = 2,
            Servers =
            [
                Server("plain"),
                Server("captured") with { Capture = new CaptureSettings(Path.Combine(_dir, "c.log"), CaptureMode.Truncate, "c.log") },
                Server("filtered") with { Filters = filters, Tls = true },
            ],
            Upstreams = new Dictionary<string, UpstreamConfig> { ["up"] = upstream },
        };
        using var builder = new RuntimeSnapshotBuilder(new ProxyMetrics(), new ReadinessState(), Mock.Of<IHostResolver>(), NullLoggerFactory.Instance);
        var snapshot = builder.Build(config, previous: null);

        Assert.DoesNotContain(snapshot.Servers["plain"].ClientStages, s => s is InspectStage);
        Assert.IsType<InspectStage>(snapshot.Servers["captured"].ClientStages[^1]);
        Assert.IsType<InspectStage>(snapshot.Servers["filtered"].ClientStages[^1]);

        static ServerConfig Server(string name) => new() { Name = name, Listen = [], Default = "up" };
    }

    private static X509Certificate2 MakeCa(string kind)
    {
        using AsymmetricAlgorithm key = kind == "rsa" ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = key is RSA rsa
            ? new CertificateRequest("CN=unit ca", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest("CN=unit ca", (ECDsa)key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }
}

/// <summary>The capture's hex encoder against the runtime's, across the vector width and its remainder.</summary>
public sealed class HexLowerTests
{
    [Fact]
    public void Every_length_and_every_byte_value_encodes_as_the_runtime_does()
    {
        var all = Enumerable.Range(0, 256).Select(b => (byte)b).ToArray();
        var random = new byte[200];
        new Random(15).NextBytes(random);
        foreach (var data in new[] { all, random }.SelectMany(d => Enumerable.Range(0, 70).Select(n => d[..Math.Min(n, d.Length)]).Append(d)))
        {
            var output = new byte[data.Length * 2];
            Assert.Equal(output.Length, TlsProxyTunnel.Inspection.HexLower.Encode(data, output));
            Assert.Equal(Convert.ToHexStringLower(data), System.Text.Encoding.ASCII.GetString(output));
        }
    }
}
