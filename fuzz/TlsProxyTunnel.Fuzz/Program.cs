using System.Text;
using SharpFuzz;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.ProxyProtocol;
using TlsProxyTunnel.Routing;
using TlsProxyTunnel.Tls;
using TlsProxyTunnel.Upstreams.Health;
using TlsProxyTunnel.Upstreams.HttpConnect;

namespace TlsProxyTunnel.Fuzz;

/// <summary>
/// AFL++ targets (through SharpFuzz) for the parsers that see hostile bytes. Every target catches nothing:
/// an exception, including a broken invariant below, is a finding.
/// </summary>
/// <remarks>
/// <c>TlsProxyTunnel.Fuzz TARGET</c> runs under afl-fuzz (persistent mode);
/// <c>TlsProxyTunnel.Fuzz TARGET FILE|DIR...</c> replays inputs once each, without AFL, to reproduce a finding.
/// </remarks>
internal static class Program
{
    private static readonly Dictionary<string, Action<byte[]>> Targets = new(StringComparer.Ordinal)
    {
        ["hello"] = Hello,
        ["connect"] = Connect,
        ["health"] = Health,
        ["config"] = Config,
        ["proxy"] = Proxy,
    };

    public static int Main(string[] args)
    {
        if (args.Length == 0 || !Targets.TryGetValue(args[0], out var target))
        {
            Console.Error.WriteLine($"usage: TlsProxyTunnel.Fuzz {string.Join('|', Targets.Keys)} [FILE|DIR...]");
            return 2;
        }

        if (args.Length > 1)
        {
            var files = args.Skip(1).SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p) : [p]).ToList();
            foreach (var file in files)
            {
                target(File.ReadAllBytes(file));
            }

            Console.WriteLine($"{files.Count} inputs replayed, no finding");
            return 0;
        }

        Fuzzer.Run(stream =>
        {
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            target(copy.ToArray());
        });
        return 0;
    }

    /// <summary>The ClientHello parser, then host name normalisation on what it found, as the reader does.</summary>
    public static void Hello(byte[] data)
    {
        // The first byte picks the cap, so small caps (and their TooLarge paths) are explored too.
        var maxBytes = data.Length == 0 ? ClientHelloParser.DefaultMaxBytes : 64 + (data[0] * 64);
        Span<byte> hostName = stackalloc byte[ClientHelloParser.MaxHostNameLength];
        var outcome = ClientHelloParser.Parse(data, hostName, out var length, out var ech, maxBytes);
        var again = ClientHelloParser.Parse(data, hostName, out var length2, out var ech2, maxBytes);
        Check(outcome == again && length == length2 && ech == ech2, "parse is not deterministic");
        Check(length >= 0 && length <= ClientHelloParser.MaxHostNameLength, $"host name length {length}");
        Check(outcome == ClientHelloOutcome.SniFound || length == 0, "host name written without SniFound");

        // The list form the reader uses: same verdict, its first name is the single form's name, and choosing
        // among the names (as the reader does, without routes) never throws.
        Span<byte> names = stackalloc byte[4 * ClientHelloParser.MinNameListLength];
        var listOutcome = ClientHelloParser.ParseServerNames(data, names, out var namesLength, out _, maxBytes);
        Check(listOutcome == outcome, $"list parse said {listOutcome}, single parse {outcome}");
        Check(namesLength >= 0 && namesLength <= names.Length, $"names length {namesLength}");
        if (listOutcome == ClientHelloOutcome.SniFound)
        {
            var first = names[1..(1 + names[0])];
            Check(first.SequenceEqual(hostName[..length]), "the first listed name is not the single parse's name");
            TlsProxyTunnel.Connections.ClientHelloReader.ChooseName<string>(names[..namesLength], null, out _);
        }
        if (outcome != ClientHelloOutcome.SniFound)
        {
            return;
        }

        Span<char> name = stackalloc char[256];
        if (HostName.TryNormalize(hostName[..length], name, out var nameLength))
        {
            Check(nameLength is > 0 and <= HostName.MaxLength, $"normalised length {nameLength}");
            foreach (var c in name[..nameLength])
            {
                // What may reach a CONNECT line, a DNS query or a log line ('_' is allowed on purpose: real names use it).
                Check(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_' or '.', $"normalised name has char {(int)c}");
            }

            Check(HostName.TryNormalize(new string(name[..nameLength]), out var twice) && twice == new string(name[..nameLength]), "normalisation is not idempotent");
        }
    }

    public static void Connect(byte[] data)
    {
        var max = data.Length == 0 ? ConnectResponseParser.DefaultMaxHeaderBytes : 16 + (data[^1] * 16);
        var outcome = ConnectResponseParser.Parse(data, max, out var response);
        if (outcome != ConnectResponseOutcome.Complete)
        {
            Check(response.StatusCode == 0 && response.HeaderLength == 0, "response set without Complete");
            return;
        }

        Check(response.HeaderLength > 0 && response.HeaderLength <= Math.Min(data.Length, max), $"header length {response.HeaderLength}");
        Check(response.StatusCode is >= 0 and <= 999, $"status {response.StatusCode}");
        var (offset, reasonLength) = response.Reason.GetOffsetAndLength(response.HeaderLength);
        Check(offset >= 0 && reasonLength >= 0, "reason out of range");

        // Documented: every strict prefix of a complete response asks for more data. Checked on small inputs.
        if (response.HeaderLength <= 1024)
        {
            for (var i = 0; i < response.HeaderLength; i++)
            {
                var prefix = ConnectResponseParser.Parse(data.AsSpan(0, i), max, out _);
                Check(prefix == ConnectResponseOutcome.NeedMoreData, $"prefix {i} of a complete response gave {prefix}");
            }
        }
    }

    public static void Health(byte[] data)
    {
        var max = data.Length == 0 ? 8192 : 16 + (data[^1] * 32);
        var outcome = HealthRequestParser.Parse(data, max, out var request);
        if (outcome == HealthParseOutcome.Complete)
        {
            Check(request.HeadLength >= 4 && request.HeadLength <= Math.Min(data.Length, max), $"head length {request.HeadLength}");
        }
    }

    public static void Config(byte[] data)
    {
        var text = Encoding.UTF8.GetString(data);
        var result = ConfigLoader.LoadText(text, "fuzz.yaml", static name => name switch
        {
            "SET" => "value",
            "PORT" => "8443",
            "EMPTY" => "",
            "NESTED" => "${SET}",
            _ => null,
        });
        Check(result.Config is null || !result.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error), "config returned along with errors");
        Check(result.Config is not null || result.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error), "no config and no error");
    }

    /// <summary>The PROXY protocol parser (v1 and v2), and the writer on what it found.</summary>
    public static void Proxy(byte[] data)
    {
        var parse = ProxyProtocolParser.Parse(data);
        Check(parse == ProxyProtocolParser.Parse(data), "parse is not deterministic");
        Check((parse.Status == ProxyProtocolStatus.Invalid) == (parse.Reason is not null), "reason without Invalid or Invalid without reason");
        Check((parse.Status == ProxyProtocolStatus.Header) == (parse.Header is not null), "header without Header or Header without header");
        if (parse.Status != ProxyProtocolStatus.Header)
        {
            return;
        }

        var header = parse.Header!;
        Check(parse.Length > 0 && parse.Length <= data.Length, $"header length {parse.Length} of {data.Length}");
        Check(header.Version != 1 || (parse.Length <= ProxyProtocolParser.MaxV1Length && data[parse.Length - 1] == '\n'), "v1 header longer than 107 bytes or not ending in LF");
        Check((header.Source is null) == (header.Destination is null), "one address without the other");
        Check(header.Source is null || header.Source.AddressFamily == header.Destination!.AddressFamily, "addresses of two families");

        // Documented: the bytes after a header do not change it, and every strict prefix asks for more (checked on small headers).
        var alone = ProxyProtocolParser.Parse(data.AsSpan(0, parse.Length));
        Check(alone.Status == ProxyProtocolStatus.Header && alone.Length == parse.Length, "the header alone parses differently");
        if (parse.Length <= 1024)
        {
            for (var i = 0; i < parse.Length; i++)
            {
                var prefix = ProxyProtocolParser.Parse(data.AsSpan(0, i)).Status;
                Check(prefix == ProxyProtocolStatus.NeedMoreData, $"prefix {i} of a header gave {prefix}");
            }
        }

        // What tpt would send on: both versions parse back to the same ends.
        foreach (var version in (ProxyProtocolVersion[])[ProxyProtocolVersion.V1, ProxyProtocolVersion.V2])
        {
            var written = ProxyProtocolParser.Parse(ProxyProtocolWriter.Create(version, header.Source, header.Destination));
            Check(written.Status == ProxyProtocolStatus.Header, $"the writer's {version} header does not parse: {written.Reason}");
            Check(header.Source is null || written.Header!.Source!.Port == header.Source.Port, "the written source port differs");
        }
    }

    private static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidOperationException("invariant broken: " + message);
        }
    }
}
