namespace TlsProxyTunnel.Cli;

/// <summary>ptw's options, with ptw's defaults (ptw 1.0.1, seed-tools.md §1.2).</summary>
internal sealed record PtwOptions
{
    public required string DstAddress { get; init; }

    public required int DstPort { get; init; }

    /// <summary><c>-v</c>: debug, info, warn, error or fatal.</summary>
    public string Verbosity { get; init; } = "info";

    /// <summary><c>-l</c>: where the log goes; stderr when null.</summary>
    public string? LogFile { get; init; }

    public string BindAddress { get; init; } = "127.0.0.1";

    public int BindPort { get; init; } = 57800;

    /// <summary><c>-W</c>, seconds.</summary>
    public double PoolWaitTimeout { get; init; } = 15;

    /// <summary><c>-P</c>: none, v1 or v2; anything but none is ptw's transparent mode.</summary>
    public string ProxyProtocol { get; init; } = "none";

    public int PoolSize { get; init; } = 25;

    /// <summary><c>-B</c>, seconds.</summary>
    public double Backoff { get; init; } = 5;

    /// <summary><c>-T</c>, seconds.</summary>
    public double Ttl { get; init; } = 30;

    /// <summary><c>-w</c>, seconds: TCP connect and TLS handshake together.</summary>
    public double Timeout { get; init; } = 4;

    public string? Cert { get; init; }

    public string? Key { get; init; }

    public string? CaFile { get; init; }

    public bool NoHostnameCheck { get; init; }

    public string? TlsServerName { get; init; }

    /// <summary>Ours: print the configuration instead of running it.</summary>
    public bool PrintConfig { get; init; }

    /// <summary>The arguments as given, for the generated file's first comment.</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];
}

/// <summary>What <c>tpt ptw ARGS</c> asked for: options, help, or a usage error (exit 2, as argparse).</summary>
internal sealed record PtwParse(PtwOptions? Options, bool Help, string? Error);

/// <summary>
/// <c>tpt ptw</c>: ptw's command line, parsed as ptw's argparse parses it (long options as <c>--opt V</c> or
/// <c>--opt=V</c> and by any unambiguous prefix, short ones as <c>-p V</c> or <c>-pV</c>, options and operands in any
/// order, <c>--</c> ending options, the last of a repeated option winning, the same checks on values).
/// </summary>
internal static class PtwCommandLine
{
    public const string Usage = """
        usage: tpt ptw [-h] [--print-config] [-v {debug,info,warn,error,fatal}] [-l FILE]
                       [--disable-uvloop] [-a BIND_ADDRESS] [-p BIND_PORT]
                       [-W POOL_WAIT_TIMEOUT] [-P {none,v1,v2}] [-n POOL_SIZE]
                       [-B BACKOFF] [-T TTL] [-w TIMEOUT] [-c CERT] [-k KEY] [-C CAFILE]
                       [--no-hostname-check | --tls-servername TLS_SERVERNAME]
                       dst_address dst_port

        ptw (Pooling TLS Wrapper) as tpt: the same options and defaults, turned into the equivalent tpt
        configuration and run. A ptw unit file switches by changing its ExecStart to 'tpt ptw ...'.

          dst_address, dst_port     the TLS server to wrap connections to
          -h, --help                show this help
          --print-config            print the configuration instead of running it
          -v, --verbosity LEVEL     debug, info, warn, error, fatal (default: info)
          -l, --logfile FILE        append the log to FILE (default: stderr)
          --disable-uvloop          accepted and ignored
          -a, --bind-address ADDR   bind address (default: 127.0.0.1)
          -p, --bind-port PORT      bind port (default: 57800)
          -W, --pool-wait-timeout S how long a client waits for a pooled connection (default: 15)
          -P, --proxy-protocol V    none, v1, v2: transparent mode, a PROXY header first inside TLS (default: none)
          -n, --pool-size N         connections kept ready (default: 25)
          -B, --backoff S           delay after a failed connection attempt (default: 5)
          -T, --ttl S               lifetime of an idle pooled connection (default: 30)
          -w, --timeout S           TCP connect and TLS handshake timeout (default: 4)
          -c, --cert FILE           client certificate
          -k, --key FILE            its key (default: in the certificate's file)
          -C, --cafile FILE         trust roots added to the system's
          --no-hostname-check       check the chain only (needs --cafile)
          --tls-servername NAME     the name sent as SNI and expected in the certificate (default: dst_address)
        """;

    private static readonly string[] Levels = ["debug", "info", "warn", "error", "fatal"];
    private static readonly string[] ProxyVersions = ["none", "v1", "v2"];

    private static readonly ArgparseSyntax Syntax = new()
    {
        Options =
        [
            new("--help", "-h", true),
            new("--print-config", "--print-config", true),
            new("--verbosity", "-v", false),
            new("--logfile", "-l", false),
            new("--disable-uvloop", "--disable-uvloop", true),
            new("--bind-address", "-a", false),
            new("--bind-port", "-p", false),
            new("--pool-wait-timeout", "-W", false),
            new("--proxy-protocol", "-P", false),
            new("--pool-size", "-n", false),
            new("--backoff", "-B", false),
            new("--ttl", "-T", false),
            new("--timeout", "-w", false),
            new("--cert", "-c", false),
            new("--key", "-k", false),
            new("--cafile", "-C", false),
            new("--no-hostname-check", "--no-hostname-check", true),
            new("--tls-servername", "--tls-servername", false),
        ],
        RequiredOperands = ["dst_address", "dst_port"],
        Exclusive = [("--tls-servername", "--no-hostname-check")],
    };

    /// <param name="args">Everything after <c>ptw</c>.</param>
    public static PtwParse Parse(IReadOnlyList<string> args)
    {
        var (values, flags, operands, help, parseError) = ArgparseCommandLine.Parse(Syntax, args);
        if (parseError is not null)
        {
            return Fail(parseError);
        }

        if (help)
        {
            return new PtwParse(null, true, null);
        }

        string? error = null;
        var options = new PtwOptions
        {
            DstAddress = operands[0],
            DstPort = ArgparseCommandLine.Port("dst_port", operands[1], ref error),
            Arguments = [.. args],
            PrintConfig = flags.Contains("--print-config"),
            NoHostnameCheck = flags.Contains("--no-hostname-check"),
        };
        if (values.TryGetValue("-v", out var verbosity))
        {
            options = options with { Verbosity = ArgparseCommandLine.Choice("-v/--verbosity", verbosity, Levels, ref error) };
        }

        if (values.TryGetValue("-l", out var logFile))
        {
            options = options with { LogFile = logFile };
        }

        if (values.TryGetValue("-a", out var bindAddress))
        {
            options = options with { BindAddress = bindAddress };
        }

        if (values.TryGetValue("-p", out var bindPort))
        {
            options = options with { BindPort = ArgparseCommandLine.Port("-p/--bind-port", bindPort, ref error) };
        }

        if (values.TryGetValue("-W", out var wait))
        {
            options = options with { PoolWaitTimeout = ArgparseCommandLine.PositiveSeconds("-W/--pool-wait-timeout", wait, ref error) };
        }

        if (values.TryGetValue("-P", out var proxy))
        {
            options = options with { ProxyProtocol = ArgparseCommandLine.Choice("-P/--proxy-protocol", proxy, ProxyVersions, ref error) };
        }

        if (values.TryGetValue("-n", out var size))
        {
            options = options with { PoolSize = ArgparseCommandLine.PositiveInt("-n/--pool-size", size, ref error) };
        }

        if (values.TryGetValue("-B", out var backoff))
        {
            options = options with { Backoff = ArgparseCommandLine.PositiveSeconds("-B/--backoff", backoff, ref error) };
        }

        if (values.TryGetValue("-T", out var ttl))
        {
            options = options with { Ttl = ArgparseCommandLine.PositiveSeconds("-T/--ttl", ttl, ref error) };
        }

        if (values.TryGetValue("-w", out var timeout))
        {
            options = options with { Timeout = ArgparseCommandLine.PositiveSeconds("-w/--timeout", timeout, ref error) };
        }

        if (values.TryGetValue("-c", out var cert))
        {
            options = options with { Cert = cert };
        }

        if (values.TryGetValue("-k", out var keyFile))
        {
            options = options with { Key = keyFile };
        }

        if (values.TryGetValue("-C", out var ca))
        {
            options = options with { CaFile = ca };
        }

        if (values.TryGetValue("--tls-servername", out var serverName))
        {
            options = options with { TlsServerName = TlsClientArguments.ServerName(serverName, ref error) };
        }

        if (error is not null)
        {
            return Fail(error);
        }

        if (TlsClientArguments.CaFileError(options.NoHostnameCheck, options.CaFile) is { } caFileError)
        {
            return Fail(caFileError);
        }

        return new PtwParse(options, false, null);
    }

    private static PtwParse Fail(string message) => new(null, false, message);
}
