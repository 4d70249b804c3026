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

    private static readonly ArgparseSyntax ClientSyntax = new()
    {
        Options =
        [
            new("--help", "-h", true),
            new("--print-config", "--print-config", true),
            new("--verbosity", "-v", false),
            new("--logfile", "-l", false),
            new("--resolve-once", "-R", true),
            new("--bind-address", "-a", false),
            new("--bind-port", "-p", false),
            new("--expire", "-e", false),
            new("--pool-size", "-n", false),
            new("--backoff", "-B", false),
            new("--timeout", "-w", false),
            new("--mark", "-m", false),
            new("--no-tls", "--no-tls", true),
            new("--cert", "-c", false),
            new("--key", "-k", false),
            new("--cafile", "-C", false),
            new("--no-hostname-check", "--no-hostname-check", true),
            new("--tls-servername", "--tls-servername", false),
        ],
        RequiredOperands = ["dst_address", "dst_port"],
        Exclusive = [("--tls-servername", "--no-hostname-check")],
        NegativeNumberOperands = true,
    };

    private static readonly ArgparseSyntax ServerSyntax = new()
    {
        Options =
        [
            new("--help", "-h", true),
            new("--print-config", "--print-config", true),
            new("--verbosity", "-v", false),
            new("--logfile", "-l", false),
            new("--bind-address", "-a", false),
            new("--bind-port", "-p", false),
            new("--no-tls", "--no-tls", true),
            new("--cert", "-c", false),
            new("--key", "-k", false),
            new("--cafile", "-C", false),
        ],
        RequiredOperands = ["dst_address", "dst_port"],
        NegativeNumberOperands = true,
    };

    public static string Usage(UotpRole role) => role == UotpRole.Client ? ClientUsage : ServerUsage;

    public static UotpParse Parse(UotpRole role, IReadOnlyList<string> args)
    {
        var (values, flags, operands, help, parseError) = ArgparseCommandLine.Parse(role == UotpRole.Client ? ClientSyntax : ServerSyntax, args);
        if (parseError is not null)
        {
            return Fail(parseError);
        }

        if (help)
        {
            return new UotpParse(null, true, null);
        }

        string? error = null;
        var client = role == UotpRole.Client;
        var options = new UotpOptions
        {
            Role = role,
            DstAddress = operands[0],
            DstPort = ArgparseCommandLine.Port("dst_port", operands[1], ref error),
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
            options = options with { BindPort = ArgparseCommandLine.Port("-p/--bind-port", bindPort, ref error) };
        }

        if (values.TryGetValue("-e", out var expire))
        {
            options = options with { Expire = ArgparseCommandLine.PositiveSeconds("-e/--expire", expire, ref error) };
        }

        if (values.TryGetValue("-n", out var size))
        {
            options = options with { PoolSize = ArgparseCommandLine.PositiveInt("-n/--pool-size", size, ref error) };
        }

        if (values.TryGetValue("-B", out var backoff))
        {
            options = options with { Backoff = ArgparseCommandLine.PositiveSeconds("-B/--backoff", backoff, ref error) };
        }

        if (values.TryGetValue("-w", out var timeout))
        {
            options = options with { Timeout = ArgparseCommandLine.PositiveSeconds("-w/--timeout", timeout, ref error) };
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
            options = options with { TlsServerName = TlsClientArguments.ServerName(serverName, ref error) };
        }

        if (error is not null)
        {
            return Fail(error);
        }

        // The originals find these only when they start (a fatal log line, exit 2, or a traceback): a usage error here.
        if (options.Tls && TlsClientArguments.CaFileError(options.NoHostnameCheck, options.CaFile) is { } caFileError)
        {
            return Fail(caFileError);
        }

        if (!client && options.Tls && options.Cert is null)
        {
            return Fail("-c/--cert is required unless --no-tls is given (the server's certificate)");
        }

        return new UotpParse(options, false, null);
    }

    private static UotpParse Fail(string message) => new(null, false, message);
}
