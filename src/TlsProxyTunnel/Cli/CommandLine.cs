namespace TlsProxyTunnel.Cli;

internal enum CliCommand
{
    Run,
    Check,
    Explain,
    Help,
    Version,
}

/// <summary>What the command line asked for; <see cref="Error"/> is set when it could not be understood.</summary>
internal sealed record CliOptions(CliCommand Command, string? ConfigPath, bool Watch, string? Error)
{
    /// <summary>The exit code for <see cref="Error"/>: 1, as always, except 2 for <c>explain</c>'s usage errors.</summary>
    public int ErrorExitCode { get; init; } = 1;

    /// <summary><c>explain NAME</c>: the name to explain.</summary>
    public string? ExplainName { get; init; }

    /// <summary><c>explain --hello FILE</c>: a captured ClientHello to explain.</summary>
    public string? HelloPath { get; init; }

    /// <summary><c>explain --json</c>.</summary>
    public bool Json { get; init; }
}

internal static class CommandLine
{
    public const string Usage = """
        Usage: tpt [check] [-c|--config PATH] [--watch]   (options and 'check' in any order)
               tpt explain [-c PATH] [--json] (NAME | --hello FILE)
               tpt ptw [ptw's options] dst_address dst_port   ('tpt ptw --help' lists them)
               tpt tlsrelay [--port-count N] [--myhost H] [-k DIR] [port]   ('tpt tlsrelay --help')
               tpt prox [prox.py's options] addr port        ('tpt prox --help' lists them)
               tpt capcat [-iotxcl] [-a ADDR] FILES...      (proxcat.py: show a capture)
               tpt uotp-client|uotp-server [their options] dst_address dst_port

        Layer-4 TLS SNI router: reads the ClientHello and forwards the connection to an
        upstream chosen by server name; where configured, it also terminates client TLS
        (terminate_tls) and originates TLS to upstreams (upstream tls).

        Commands and options:
          (none)               run the service
          check, --check       load and validate the configuration, print a summary, exit 0 or 1
          explain NAME         show where each server would send a client asking for NAME: the rule
                               that matched and why, the upstream, the CONNECT it would send (secrets
                               hidden) and the addresses the upstream resolves to now;
                               exit 0, 1 (configuration error) or 2 (usage)
            --hello FILE       explain a captured ClientHello (raw bytes) instead of a NAME
            --json             print the explanation as JSON
          ptw ...              ptw's command line (Pooling TLS Wrapper): builds the equivalent
                               configuration and runs it (--print-config prints it instead)
          tlsrelay ...         tx_tlsrelay's command line (relay for servers behind NAT), the same way
          prox ...             prox.py's command line (TLS-intercepting proxy with a capture log):
                               builds the equivalent configuration and runs it (--print-config)
          capcat ...           proxcat.py: shows a capture file (raw, -x hexdump, -t, -c, -l, -a)
          uotp-client ...,     udp-over-tls-pool's command lines, likewise ('tpt uotp-client --help')
          uotp-server ...
          -c, --config PATH    configuration file (also --config=PATH)
          --watch              reload when the configuration file or a certificate, key or CA
                               file it names changes (SIGHUP always reloads)
          -h, --help           show this help
          --version            show the version

        Configuration file: -c, else $TPT_CONFIG, else the first that exists of
          /etc/tpt/tpt.yaml, /etc/tpt/config.yaml, ./tpt.yaml, ./config.yaml

        Environment: TPT_CONFIG (configuration path), TPT_LOG (log level override),
          TPT_ENGINE (engine of servers without their own 'engine': auto, linux or sockets).
        """;

    public static CliOptions Parse(IReadOnlyList<string> args)
    {
        // Help wins wherever it appears, as in tls-proxy-tunnel, so `tpt -c x --help` never starts a server.
        if (args.Any(a => a is "-h" or "--help"))
        {
            return new CliOptions(CliCommand.Help, null, false, null);
        }

        if (args.Any(a => a == "--version"))
        {
            return new CliOptions(CliCommand.Version, null, false, null);
        }

        // A usage error of explain exits 2, as its help says; the other commands keep exiting 1.
        var fail = args.Contains("explain") ? (Func<string, CliOptions>)(m => Fail(m) with { ErrorExitCode = 2 }) : Fail;
        var command = CliCommand.Run;
        string? configPath = null;
        var watch = false;
        var json = false;
        string? helloPath = null;
        var positional = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            switch (arg)
            {
                // Anywhere, like --check: "tpt -c f.yaml check" is as clear as "tpt check -c f.yaml".
                case "check":
                case "--check":
                    command = CliCommand.Check;
                    break;
                case "--watch":
                    watch = true;
                    break;
                case "explain":
                    if (command == CliCommand.Explain)
                    {
                        positional.Add(arg);
                    }

                    command = CliCommand.Explain;
                    break;
                case "--json":
                    json = true;
                    break;
                case "--hello":
                    if (i + 1 >= args.Count || args[i + 1].Length == 0)
                    {
                        return fail("--hello needs a file path");
                    }

                    helloPath = args[++i];
                    break;
                case "-c" or "--config":
                    if (i + 1 >= args.Count || args[i + 1].Length == 0)
                    {
                        return fail($"{arg} needs a file path");
                    }

                    if (configPath is not null)
                    {
                        return fail("the configuration file is given twice");
                    }

                    configPath = args[++i];
                    break;
                default:
                    if (arg.StartsWith("--config=", StringComparison.Ordinal))
                    {
                        var value = arg["--config=".Length..];
                        if (value.Length == 0)
                        {
                            return fail("--config= needs a file path");
                        }

                        if (configPath is not null)
                        {
                            return fail("the configuration file is given twice");
                        }

                        configPath = value;
                        break;
                    }

                    if (!arg.StartsWith('-'))
                    {
                        positional.Add(arg);
                        break;
                    }

                    return fail($"unknown argument '{arg}'");
            }
        }

        if (command == CliCommand.Explain)
        {
            return Explain(configPath, watch, json, helloPath, positional);
        }

        if (positional.Count > 0 || json || helloPath is not null)
        {
            return fail($"unknown argument '{(positional.Count > 0 ? positional[0] : json ? "--json" : "--hello")}'");
        }

        return new CliOptions(command, configPath, watch, null);
    }

    private static CliOptions Explain(string? configPath, bool watch, bool json, string? helloPath, List<string> names)
    {
        var error = watch ? "explain does not take --watch"
            : names.Count > 1 ? $"explain takes one NAME, got {names.Count}"
            : names.Count == 1 && helloPath is not null ? "explain takes a NAME or --hello FILE, not both"
            : names.Count == 0 && helloPath is null ? "explain needs a NAME or --hello FILE"
            : null;
        if (error is not null)
        {
            return Fail(error) with { ErrorExitCode = 2 };
        }

        return new CliOptions(CliCommand.Explain, configPath, false, null)
        {
            ExplainName = names.Count == 1 ? names[0] : null,
            HelloPath = helloPath,
            Json = json,
        };
    }

    private static CliOptions Fail(string message) => new(CliCommand.Help, null, false, message);
}
