using System.Globalization;

namespace TlsProxyTunnel.Cli;

/// <summary>prox.py's options, with its defaults (nccgroup/tcpprox), plus <c>--print-config</c>.</summary>
internal sealed record ProxOptions
{
    public IReadOnlyList<string> Arguments { get; init; } = [];

    public bool Ipv6 { get; init; }

    /// <summary><c>-b</c>: 0.0.0.0, or :: with <c>-6</c>.</summary>
    public string? BindAddress { get; init; }

    /// <summary><c>-L</c>: the destination port when not given.</summary>
    public int? LocalPort { get; init; }

    public bool SslIn { get; init; }

    public bool SslOut { get; init; }

    /// <summary><c>-C</c>: a file name without <c>.pem</c>; <c>cert</c>, or <c>ca</c> with <c>-A</c>.</summary>
    public string? Cert { get; init; }

    /// <summary><c>-A</c>: the name for clients without SNI; with it, certificates are minted per name.</summary>
    public string? AutoName { get; init; }

    /// <summary><c>-c</c>: the client certificate's base name (<c>NAME.cert</c> + <c>NAME.key</c>).</summary>
    public string? ClientCert { get; init; }

    public bool OneShot { get; init; }

    public string? LogFile { get; init; }

    public bool OriginalDestination { get; init; }

    public string? Address { get; init; }

    public int? Port { get; init; }

    public bool PrintConfig { get; init; }

    public string CertBase => Cert ?? (AutoName is null ? "cert" : "ca");

    public int ListenPort => LocalPort ?? Port ?? 0;

    public string Bind => BindAddress is null or "0.0.0.0" && Ipv6 ? "::" : BindAddress ?? "0.0.0.0";
}

internal static class ProxCommandLine
{
    public const string Usage = """
        usage: tpt prox [opts] addr port
               tpt prox [opts] -O -L localport

        prox.py's command line: a TCP proxy with TLS on either side, run as a tpt configuration.

        options:
          -h, --help      show this help message and exit
          -6              use IPv6 (the listener takes IPv4 too)
          -b BINDADDR     address to bind to (0.0.0.0, or :: with -6)
          -L LOCPORT      local port to listen on (default: the destination port)
          -s              use TLS for incoming and outgoing connections
          --ssl-in        use TLS for incoming connections (terminate_tls)
          --ssl-out       use TLS for outgoing connections (sends the client's SNI; no verification, as prox.py)
          -C CERT         certificate file name without .pem (certificate and key in one file): default
                          cert, or ca with -A (then the CA that signs the minted certificates)
          -A CNAME        mint a certificate per client name, signed by the -C CA; CNAME for clients
                          without SNI
          -c NAME         client certificate for --ssl-out: NAME.cert and NAME.key
          -1              handle a single connection, then exit with its result
          -l LOGFILE      capture every chunk to LOGFILE (prox.py's format; 'tpt capcat' shows it)
          -O              connect to each client's original destination (iptables REDIRECT);
                          needs -L, ignores addr and port
          --print-config  print the equivalent tpt configuration and exit

        Not taken: -3 and -T (SSLv3 and TLS 1.0 are gone; TLS 1.2 and 1.3 are negotiated), -m (use
        'filters:' in a configuration: uppercase, lowercase, replace; 'tpt prox --print-config' gives
        one to start from).
        """;

    public static ProxOptions? Parse(IReadOnlyList<string> args, out string? error, out bool help)
    {
        error = null;
        help = false;
        var options = new ProxOptions { Arguments = [.. args] };
        var positional = new List<string>();

        // optparse: short options combine (-s1), a value may be attached (-L8888) or follow; options and operands mix.
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? Value(string name, string inline)
            {
                if (inline.Length > 0)
                {
                    return inline;
                }

                if (i + 1 < args.Count)
                {
                    return args[++i];
                }

                return null;
            }

            if (arg == "--")
            {
                positional.AddRange(args.Skip(i + 1));
                break;
            }

            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                switch (arg)
                {
                    case "--help":
                        help = true;
                        return null;
                    case "--ssl-in":
                        options = options with { SslIn = true };
                        continue;
                    case "--ssl-out":
                        options = options with { SslOut = true };
                        continue;
                    case "--print-config":
                        options = options with { PrintConfig = true };
                        continue;
                    default:
                        error = $"no such option: {arg}";
                        return null;
                }
            }

            if (arg.Length < 2 || arg[0] != '-')
            {
                positional.Add(arg);
                continue;
            }

            for (var j = 1; j < arg.Length; j++)
            {
                var flag = arg[j];
                var rest = arg[(j + 1)..];
                switch (flag)
                {
                    case 'h':
                        help = true;
                        return null;
                    case '6':
                        options = options with { Ipv6 = true };
                        continue;
                    case 's':
                        options = options with { SslIn = true, SslOut = true };
                        continue;
                    case '1':
                        options = options with { OneShot = true };
                        continue;
                    case 'O':
                        options = options with { OriginalDestination = true };
                        continue;
                    case '3' or 'T':
                        error = $"-{flag} is not supported: {(flag == '3' ? "SSLv3" : "TLS 1.0")} is gone from current TLS libraries (and from tpt); leave it out, TLS 1.2 and 1.3 are negotiated";
                        return null;
                    case 'm':
                        error = "-m is not supported: tpt loads no filter modules; its built-in filters (uppercase, lowercase, replace) go in a configuration's 'filters:' (start from 'tpt prox --print-config ...')";
                        return null;
                }

                if (flag is not ('b' or 'L' or 'C' or 'A' or 'c' or 'l'))
                {
                    error = $"no such option: -{flag}";
                    return null;
                }

                if (Value($"-{flag}", rest) is not { } value)
                {
                    error = $"-{flag} option requires 1 argument";
                    return null;
                }

                switch (flag)
                {
                    case 'b':
                        options = options with { BindAddress = value };
                        break;
                    case 'L':
                        if (!TryPort(value, out var local))
                        {
                            error = $"option -L: invalid integer value: '{value}'";
                            return null;
                        }

                        options = options with { LocalPort = local };
                        break;
                    case 'C':
                        options = options with { Cert = value };
                        break;
                    case 'A':
                        options = options with { AutoName = value };
                        break;
                    case 'c':
                        options = options with { ClientCert = value };
                        break;
                    case 'l':
                        options = options with { LogFile = value };
                        break;
                }

                break;
            }
        }

        if (options.OriginalDestination)
        {
            if (options.LocalPort is null)
            {
                error = "-O needs -L: the port iptables redirects to";
                return null;
            }

            // prox.py's manual: -O ignores addr and port.
            return options;
        }

        if (positional.Count != 2)
        {
            error = "specify address and port";
            return null;
        }

        if (!TryPort(positional[1], out var port) || port == 0)
        {
            error = $"invalid port: {positional[1]}";
            return null;
        }

        return options with { Address = positional[0], Port = port };
    }

    private static bool TryPort(string text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 0 and <= 65535;
}
