using System.Globalization;

namespace TlsProxyTunnel.Cli;

/// <summary>tx_tlsrelay's options, with its defaults (seed-tools.md §3.2).</summary>
internal sealed record TlsRelayOptions
{
    /// <summary>The control port; the data ports follow it.</summary>
    public int Port { get; init; } = 12000;

    /// <summary><c>--port-count</c>: even; half reverse ports, half public ports.</summary>
    public int PortCount { get; init; } = 200;

    /// <summary><c>--myhost</c>: written verbatim in the <c>*_listener</c> lines.</summary>
    public string MyHost { get; init; } = "127.0.0.1";

    /// <summary><c>-k/--keys</c>: holds <c>ca.crt.pem</c>, <c>server.crt.pem</c> and <c>server.key.pem</c>.</summary>
    public string Keys { get; init; } = "./relay_server_certs";

    /// <summary>Ours: print the configuration instead of running it.</summary>
    public bool PrintConfig { get; init; }

    /// <summary>The arguments as given, for the generated file's first comment.</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];
}

/// <summary>What <c>tpt tlsrelay ARGS</c> asked for: options, help, or a usage error (exit 2).</summary>
internal sealed record TlsRelayParse(TlsRelayOptions? Options, bool Help, string? Error);

/// <summary>
/// <c>tpt tlsrelay</c>: tx_tlsrelay's command line (<c>[port] --port-count N --myhost H -k DIR</c>); long options as
/// <c>--opt V</c> or <c>--opt=V</c> and by any unambiguous prefix, <c>-k V</c> or <c>-kV</c>, the last of a repeated
/// option winning.
/// </summary>
internal static class TlsRelayCommandLine
{
    public const string Usage = """
        usage: tpt tlsrelay [-h] [--print-config] [--port-count N] [--myhost HOST] [-k DIR] [port]

        tx_tlsrelay (a TCP/TLS relay for servers behind NAT) as tpt: the same options and defaults, turned
        into the equivalent tpt configuration (a 'kind: tls_relay' server) and run.

          port                  the control port; reverse ports follow it, then public ports (default: 12000)
          -h, --help            show this help
          --print-config        print the configuration instead of running it
          --port-count N        data ports above the control port, even: half reverse, half public (default: 200)
          --myhost HOST         host written in the public_listener and reverse_listener lines (default: 127.0.0.1)
          -k, --keys DIR        ca.crt.pem, server.crt.pem, server.key.pem for the mutual-TLS control channel
                                (default: ./relay_server_certs)
        """;

    private static readonly ArgparseSyntax Syntax = new()
    {
        Options =
        [
            new("--help", "-h", true),
            new("--print-config", "--print-config", true),
            new("--port-count", "--port-count", false),
            new("--myhost", "--myhost", false),
            new("--keys", "-k", false),
        ],
        OptionalOperands = 1,
        NoDashValues = true,
    };

    /// <param name="args">Everything after <c>tlsrelay</c>.</param>
    public static TlsRelayParse Parse(IReadOnlyList<string> args)
    {
        var (values, flags, operands, help, parseError) = ArgparseCommandLine.Parse(Syntax, args);
        if (parseError is not null)
        {
            return Fail(parseError);
        }

        if (help)
        {
            return new TlsRelayParse(null, true, null);
        }

        var options = new TlsRelayOptions { Arguments = [.. args], PrintConfig = flags.Contains("--print-config") };
        if (operands.Count == 1)
        {
            if (!int.TryParse(operands[0], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                return Fail($"argument port: invalid port '{operands[0]}'");
            }

            options = options with { Port = port };
        }

        if (values.TryGetValue("--port-count", out var countText))
        {
            if (!int.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count < 2 || count % 2 != 0)
            {
                return Fail($"argument --port-count: must be an even number of at least 2, got '{countText}'");
            }

            options = options with { PortCount = count };
        }

        if (options.Port + options.PortCount > 65535)
        {
            return Fail($"port {options.Port} plus --port-count {options.PortCount} passes 65535");
        }

        if (values.TryGetValue("--myhost", out var host))
        {
            if (host.Length == 0 || host.Any(c => c == ' ' || char.IsControl(c)))
            {
                return Fail("argument --myhost: must be a host name or address without spaces");
            }

            options = options with { MyHost = host };
        }

        if (values.TryGetValue("-k", out var keys))
        {
            options = options with { Keys = keys };
        }

        return new TlsRelayParse(options, false, null);
    }

    private static TlsRelayParse Fail(string message) => new(null, false, message);
}
