namespace TlsProxyTunnel.Cli;

internal enum CliCommand
{
    Run,
    Check,
    Help,
    Version,
}

/// <summary>What the command line asked for; <see cref="Error"/> is set when it could not be understood.</summary>
internal sealed record CliOptions(CliCommand Command, string? ConfigPath, bool Watch, string? Error);

internal static class CommandLine
{
    public const string Usage = """
        Usage: tpt [check] [-c|--config PATH] [--watch]   (options and 'check' in any order)

        Layer-4 TLS SNI router: reads the ClientHello and forwards the connection to an
        upstream chosen by server name; where configured, it also terminates client TLS
        (terminate_tls) and originates TLS to upstreams (upstream tls).

        Commands and options:
          (none)               run the service
          check, --check       load and validate the configuration, print a summary, exit 0 or 1
          -c, --config PATH    configuration file (also --config=PATH)
          --watch              reload when the configuration file changes (SIGHUP always
                               reloads; every reload re-reads certificate and key files)
          -h, --help           show this help
          --version            show the version

        Configuration file: -c, else $TPT_CONFIG, else the first that exists of
          /etc/tpt/tpt.yaml, /etc/tpt/config.yaml, ./tpt.yaml, ./config.yaml

        Environment: TPT_CONFIG (configuration path), TPT_LOG (log level override).
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

        var command = CliCommand.Run;
        string? configPath = null;
        var watch = false;
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
                case "-c" or "--config":
                    if (i + 1 >= args.Count || args[i + 1].Length == 0)
                    {
                        return Fail($"{arg} needs a file path");
                    }

                    if (configPath is not null)
                    {
                        return Fail("the configuration file is given twice");
                    }

                    configPath = args[++i];
                    break;
                default:
                    if (arg.StartsWith("--config=", StringComparison.Ordinal))
                    {
                        var value = arg["--config=".Length..];
                        if (value.Length == 0)
                        {
                            return Fail("--config= needs a file path");
                        }

                        if (configPath is not null)
                        {
                            return Fail("the configuration file is given twice");
                        }

                        configPath = value;
                        break;
                    }

                    return Fail($"unknown argument '{arg}'");
            }
        }

        return new CliOptions(command, configPath, watch, null);
    }

    private static CliOptions Fail(string message) => new(CliCommand.Help, null, false, message);
}
