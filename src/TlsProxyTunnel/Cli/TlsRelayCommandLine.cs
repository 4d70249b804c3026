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

    private static readonly (string Long, string Short, bool Flag)[] Options =
    [
        ("--help", "-h", true),
        ("--print-config", "--print-config", true),
        ("--port-count", "--port-count", false),
        ("--myhost", "--myhost", false),
        ("--keys", "-k", false),
    ];

    /// <param name="args">Everything after <c>tlsrelay</c>.</param>
    public static TlsRelayParse Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        var operands = new List<string>();
        var optionsEnded = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (optionsEnded || arg == "-" || !arg.StartsWith('-'))
            {
                operands.Add(arg);
                continue;
            }

            if (arg == "--")
            {
                optionsEnded = true;
                continue;
            }

            (string Long, string Short, bool Flag) option;
            string? attached = null;
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                var equals = arg.IndexOf('=', StringComparison.Ordinal);
                var name = equals < 0 ? arg : arg[..equals];
                attached = equals < 0 ? null : arg[(equals + 1)..];
                var exact = Options.Where(o => o.Long == name).ToList();
                var matches = exact.Count > 0 ? exact : Options.Where(o => o.Long.StartsWith(name, StringComparison.Ordinal)).ToList();
                if (matches.Count != 1)
                {
                    return Fail(matches.Count == 0 ? $"unrecognized arguments: {arg}" : $"ambiguous option: {name} could match {string.Join(", ", matches.Select(m => m.Long))}");
                }

                option = matches[0];
                if (option.Flag && attached is not null)
                {
                    return Fail($"argument {option.Long}: ignored explicit argument '{attached}'");
                }
            }
            else
            {
                var key = arg[..2];
                if (!Options.Any(o => o.Short == key))
                {
                    return Fail($"unrecognized arguments: {arg}");
                }

                option = Options.First(o => o.Short == key);
                attached = arg.Length > 2 ? arg[2..] : null;
            }

            if (option.Flag)
            {
                flags.Add(option.Short);
                continue;
            }

            if (attached is null)
            {
                if (i + 1 >= args.Count || args[i + 1].StartsWith('-'))
                {
                    return Fail($"argument {(option.Short == option.Long ? option.Long : $"{option.Short}/{option.Long}")}: expected one argument");
                }

                attached = args[++i];
            }

            values[option.Short] = attached;
        }

        if (flags.Contains("-h"))
        {
            return new TlsRelayParse(null, true, null);
        }

        if (operands.Count > 1)
        {
            return Fail($"unrecognized arguments: {string.Join(' ', operands.Skip(1))}");
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
