using System.Globalization;

namespace TlsProxyTunnel.Cli;

internal enum UotpRole
{
    Client,
    Server,
}

/// <summary>udp-over-tls-pool's options, with its defaults (0.1.1, seed-tools.md §2.2).</summary>
internal sealed record UotpOptions
{
    public required UotpRole Role { get; init; }

    /// <summary>The client's uotp server, or the server's UDP destination.</summary>
    public required string DstAddress { get; init; }

    public required int DstPort { get; init; }

    /// <summary><c>-v</c>: debug, info, warn, error, fatal or crit.</summary>
    public string Verbosity { get; init; } = "info";

    public string? LogFile { get; init; }

    /// <summary>Client <c>-R</c>.</summary>
    public bool ResolveOnce { get; init; }

    public required string BindAddress { get; init; }

    public required int BindPort { get; init; }

    /// <summary>Client <c>-e</c>, seconds.</summary>
    public double Expire { get; init; } = 120;

    /// <summary>Client <c>-n</c>.</summary>
    public int PoolSize { get; init; } = 8;

    /// <summary>Client <c>-B</c>, seconds.</summary>
    public double Backoff { get; init; } = 5;

    /// <summary>Client <c>-w</c>, seconds: TCP connect and TLS handshake together.</summary>
    public double Timeout { get; init; } = 4;

    /// <summary>Client <c>-m</c>.</summary>
    public uint? Mark { get; init; }

    /// <summary>Off with <c>--no-tls</c>.</summary>
    public bool Tls { get; init; } = true;

    public string? Cert { get; init; }

    public string? Key { get; init; }

    /// <summary>Client: roots added to the system's; server: the CA client certificates must chain to (and then must be sent).</summary>
    public string? CaFile { get; init; }

    public bool NoHostnameCheck { get; init; }

    public string? TlsServerName { get; init; }

    public bool PrintConfig { get; init; }

    public IReadOnlyList<string> Arguments { get; init; } = [];
}

/// <summary>What <c>tpt uotp-client|uotp-server ARGS</c> asked for: options, help, or a usage error (exit 2, as argparse).</summary>
internal sealed record UotpParse(UotpOptions? Options, bool Help, string? Error);

/// <summary>
/// <c>tpt uotp-client</c> and <c>tpt uotp-server</c>: the originals' command lines, parsed as their argparse does (long
/// options by any unambiguous prefix, <c>--opt=V</c>, <c>-pV</c>, operands anywhere, <c>--</c>, the last repeat winning).
/// </summary>
internal static class UotpCommandLine
{
    public const string ClientUsage = """
        usage: tpt uotp-client [-h] [--print-config] [-v {debug,info,warn,error,fatal,crit}] [-l FILE] [-R]
                               [-a BIND_ADDRESS] [-p BIND_PORT] [-e EXPIRE] [-n POOL_SIZE] [-B BACKOFF]
                               [-w TIMEOUT] [-m MARK] [--no-tls] [-c CERT] [-k KEY] [-C CAFILE]
                               [--no-hostname-check | --tls-servername TLS_SERVERNAME]
                               dst_address dst_port

        udp-over-tls-pool's client as tpt: UDP datagrams on the bind address, carried to a uotp server over a
        group of TLS (or TCP) connections per UDP sender. The same options and defaults as uotp-client.

          dst_address, dst_port     the uotp server
          -h, --help                show this help
          --print-config            print the configuration instead of running it
          -v, --verbosity LEVEL     debug, info, warn, error, fatal, crit (default: info)
          -l, --logfile FILE        append the log to FILE (default: stderr)
          -R, --resolve-once        resolve the server once, at the first session, and keep its addresses
          -a, --bind-address ADDR   UDP bind address (default: 127.0.0.1)
          -p, --bind-port PORT      UDP bind port (default: 8911)
          -e, --expire S            UDP session idle timeout (default: 120)
          -n, --pool-size N         connections per session (default: 8)
          -B, --backoff S           delay after a connection attempt failed (default: 5)
          -w, --timeout S           server connect timeout, TCP and TLS (default: 4)
          -m, --mark MARK           SO_MARK on the connections, decimal or 0x hex (needs CAP_NET_ADMIN)
          --no-tls                  plain TCP connections
          -c, --cert FILE           client certificate
          -k, --key FILE            its key (default: in the certificate's file)
          -C, --cafile FILE         trust roots added to the system's
          --no-hostname-check       check the chain only (needs --cafile)
          --tls-servername NAME     the name sent as SNI and expected in the certificate (default: dst_address)
        """;

    public const string ServerUsage = """
        usage: tpt uotp-server [-h] [--print-config] [-v {debug,info,warn,error,fatal,crit}] [-l FILE]
                               [-a BIND_ADDRESS] [-p BIND_PORT] [--no-tls] [-c CERT] [-k KEY] [-C CAFILE]
                               dst_address dst_port

        udp-over-tls-pool's server as tpt: TLS (or TCP) connections grouped by their session id, each group's
        datagrams sent to the UDP destination from a socket of its own. The same options and defaults as uotp-server.

          dst_address, dst_port     the UDP destination (a WireGuard endpoint, say)
          -h, --help                show this help
          --print-config            print the configuration instead of running it
          -v, --verbosity LEVEL     debug, info, warn, error, fatal, crit (default: info)
          -l, --logfile FILE        append the log to FILE (default: stderr)
          -a, --bind-address ADDR   TLS/TCP bind address (default: 0.0.0.0)
          -p, --bind-port PORT      TLS/TCP bind port (default: 8443)
          --no-tls                  plain TCP
          -c, --cert FILE           server certificate (required with TLS)
          -k, --key FILE            its key (default: in the certificate's file)
          -C, --cafile FILE         CA that client certificates must chain to; makes them required
        """;

    private static readonly string[] Levels = ["debug", "info", "warn", "error", "fatal", "crit"];

    private static readonly (string Long, string Short, bool Flag)[] ClientOptions =
    [
        ("--help", "-h", true),
        ("--print-config", "--print-config", true),
        ("--verbosity", "-v", false),
        ("--logfile", "-l", false),
        ("--resolve-once", "-R", true),
        ("--bind-address", "-a", false),
        ("--bind-port", "-p", false),
        ("--expire", "-e", false),
        ("--pool-size", "-n", false),
        ("--backoff", "-B", false),
        ("--timeout", "-w", false),
        ("--mark", "-m", false),
        ("--no-tls", "--no-tls", true),
        ("--cert", "-c", false),
        ("--key", "-k", false),
        ("--cafile", "-C", false),
        ("--no-hostname-check", "--no-hostname-check", true),
        ("--tls-servername", "--tls-servername", false),
    ];

    private static readonly (string Long, string Short, bool Flag)[] ServerOptions =
    [
        ("--help", "-h", true),
        ("--print-config", "--print-config", true),
        ("--verbosity", "-v", false),
        ("--logfile", "-l", false),
        ("--bind-address", "-a", false),
        ("--bind-port", "-p", false),
        ("--no-tls", "--no-tls", true),
        ("--cert", "-c", false),
        ("--key", "-k", false),
        ("--cafile", "-C", false),
    ];

    public static string Usage(UotpRole role) => role == UotpRole.Client ? ClientUsage : ServerUsage;

    public static UotpParse Parse(UotpRole role, IReadOnlyList<string> args)
    {
        var table = role == UotpRole.Client ? ClientOptions : ServerOptions;
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        var operands = new List<string>();
        var optionsEnded = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (optionsEnded || arg == "-" || !arg.StartsWith('-') || IsNegativeNumber(arg))
            {
                operands.Add(arg);
                continue;
            }

            if (arg == "--")
            {
                optionsEnded = true;
                continue;
            }

            string key;
            string? attached = null;
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                var equals = arg.IndexOf('=', StringComparison.Ordinal);
                var name = equals < 0 ? arg : arg[..equals];
                attached = equals < 0 ? null : arg[(equals + 1)..];
                var exact = table.Where(o => o.Long == name).ToList();
                var matches = exact.Count > 0 ? exact : table.Where(o => o.Long.StartsWith(name, StringComparison.Ordinal)).ToList();
                if (matches.Count == 0)
                {
                    return Fail($"unrecognized arguments: {arg}");
                }

                if (matches.Count > 1)
                {
                    return Fail($"ambiguous option: {name} could match {string.Join(", ", matches.Select(m => m.Long))}");
                }

                key = matches[0].Short;
                if (matches[0].Flag && attached is not null)
                {
                    return Fail($"argument {matches[0].Long}: ignored explicit argument '{attached}'");
                }
            }
            else
            {
                key = arg[..2];
                attached = arg.Length > 2 ? arg[2..] : null;
                if (!table.Any(o => o.Short == key))
                {
                    return Fail($"unrecognized arguments: {arg}");
                }
            }

            var option = table.First(o => o.Short == key);
            if (option.Flag)
            {
                flags.Add(key);
                continue;
            }

            if (attached is null)
            {
                if (i + 1 >= args.Count || (args[i + 1].StartsWith('-') && args[i + 1] != "-" && !IsNegativeNumber(args[i + 1])))
                {
                    return Fail($"argument {(option.Short == option.Long ? option.Long : $"{option.Short}/{option.Long}")}: expected one argument");
                }

                attached = args[++i];
            }

            values[key] = attached;
        }

        if (flags.Contains("-h"))
        {
            return new UotpParse(null, true, null);
        }

        if (values.ContainsKey("--tls-servername") && flags.Contains("--no-hostname-check"))
        {
            return Fail("argument --tls-servername: not allowed with argument --no-hostname-check");
        }

        if (operands.Count < 2)
        {
            return Fail($"the following arguments are required: {(operands.Count == 0 ? "dst_address, dst_port" : "dst_port")}");
        }

        if (operands.Count > 2)
        {
            return Fail($"unrecognized arguments: {string.Join(' ', operands.Skip(2))}");
        }

        string? error = null;
        var client = role == UotpRole.Client;
        var options = new UotpOptions
        {
            Role = role,
            DstAddress = operands[0],
            DstPort = Port("dst_port", operands[1], ref error),
            BindAddress = client ? "127.0.0.1" : "0.0.0.0",
            BindPort = client ? 8911 : 8443,
            Arguments = [.. args],
            PrintConfig = flags.Contains("--print-config"),
            ResolveOnce = flags.Contains("-R"),
            Tls = !flags.Contains("--no-tls"),
            NoHostnameCheck = flags.Contains("--no-hostname-check"),
        };
        if (values.TryGetValue("-v", out var verbosity))
        {
            if (!Levels.Contains(verbosity, StringComparer.Ordinal))
            {
                error ??= $"argument -v/--verbosity: '{verbosity}' is not valid loglevel";
            }

            options = options with { Verbosity = verbosity };
        }

        options = options with
        {
            LogFile = values.GetValueOrDefault("-l"),
            BindAddress = values.GetValueOrDefault("-a") ?? options.BindAddress,
            Cert = values.GetValueOrDefault("-c"),
            Key = values.GetValueOrDefault("-k"),
            CaFile = values.GetValueOrDefault("-C"),
        };
        if (values.TryGetValue("-p", out var bindPort))
        {
            options = options with { BindPort = Port("-p/--bind-port", bindPort, ref error) };
        }

        if (values.TryGetValue("-e", out var expire))
        {
            options = options with { Expire = PositiveSeconds("-e/--expire", expire, ref error) };
        }

        if (values.TryGetValue("-n", out var size))
        {
            options = options with { PoolSize = PositiveInt("-n/--pool-size", size, ref error) };
        }

        if (values.TryGetValue("-B", out var backoff))
        {
            options = options with { Backoff = PositiveSeconds("-B/--backoff", backoff, ref error) };
        }

        if (values.TryGetValue("-w", out var timeout))
        {
            options = options with { Timeout = PositiveSeconds("-w/--timeout", timeout, ref error) };
        }

        if (values.TryGetValue("-m", out var mark))
        {
            if (Configuration.ConfigMapper.ParseMark(mark.Trim()) is { } parsed)
            {
                options = options with { Mark = parsed };
            }
            else
            {
                error ??= $"argument -m/--mark: {mark} is not a valid value";
            }
        }

        if (values.TryGetValue("--tls-servername", out var serverName))
        {
            if (serverName.Length == 0)
            {
                error ??= "argument --tls-servername: '' is not valid server name";
            }

            options = options with { TlsServerName = serverName };
        }

        if (error is not null)
        {
            return Fail(error);
        }

        // The originals find these only when they start (a fatal log line, exit 2, or a traceback): a usage error here.
        if (options.Tls && options.NoHostnameCheck && options.CaFile is null)
        {
            return Fail("--no-hostname-check needs -C/--cafile (CAfile option is required when hostname check is disabled)");
        }

        if (!client && options.Tls && options.Cert is null)
        {
            return Fail("-c/--cert is required unless --no-tls is given (the server's certificate)");
        }

        return new UotpParse(options, false, null);
    }

    private static UotpParse Fail(string message) => new(null, false, message);

    private static bool IsNegativeNumber(string text) => text.Length > 1 && text[0] == '-' && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    private static int Port(string what, string text, ref string? error)
    {
        if (int.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536)
        {
            return port;
        }

        error ??= $"argument {what}: {text} is not a valid port number";
        return 0;
    }

    private static int PositiveInt(string what, string text, ref string? error)
    {
        if (int.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value > 0)
        {
            return value;
        }

        error ??= $"argument {what}: {text} is not a valid value";
        return 0;
    }

    private static double PositiveSeconds(string what, string text, ref string? error)
    {
        if (double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 && double.IsFinite(value))
        {
            return value;
        }

        error ??= $"argument {what}: {text} is not a valid value";
        return 0;
    }
}
