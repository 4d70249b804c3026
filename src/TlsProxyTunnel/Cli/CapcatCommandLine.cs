namespace TlsProxyTunnel.Cli;

/// <summary><c>tpt capcat</c>'s options: proxcat.py's, parsed as optparse does (flags combine, options and files mix).</summary>
internal sealed record CapcatOptions
{
    public bool Input { get; init; }

    public bool Output { get; init; }

    public bool Timestamps { get; init; }

    public bool Hex { get; init; }

    public bool Color { get; init; }

    public bool List { get; init; }

    public string? Address { get; init; }

    public IReadOnlyList<string> Files { get; init; } = [];

    /// <summary>proxcat shows both directions when neither or both of <c>-i</c> and <c>-o</c> is given.</summary>
    public bool Shows(string direction) => (!Input && !Output) || (direction == "i" ? Input : direction == "o" && Output);
}

internal static class CapcatCommandLine
{
    public const string Usage = """
        usage: tpt capcat [-i] [-o] [-t] [-x] [-c] [-l] [-a ADDR] FILES...

        Shows a capture written by a server's 'capture' (or by prox.py -l), as proxcat.py does.

        options:
          -h, --help  show this help message and exit
          -i          show data from client
          -o          show data to client
          -t          show timestamp and other metadata (time as YYYY-MM-DD_HH:MM:SS, local time)
          -x          show data in hex
          -a ADDR     only show data from addr (exactly as the capture writes it: 127.0.0.1:5000, [::1]:5000)
          -c          use colors (client data red, server data green)
          -l          list sessions: each client address once, with the time it first appears
        """;

    /// <summary>The options, or <paramref name="error"/> in optparse's words; <paramref name="help"/> for -h.</summary>
    public static CapcatOptions? Parse(IReadOnlyList<string> args, out string? error, out bool help)
    {
        error = null;
        help = false;
        var options = new CapcatOptions();
        var files = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                files.AddRange(args.Skip(i + 1));
                break;
            }

            if (arg == "--help")
            {
                help = true;
                return null;
            }

            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                error = $"no such option: {arg}";
                return null;
            }

            if (arg.Length < 2 || arg[0] != '-')
            {
                files.Add(arg);
                continue;
            }

            for (var j = 1; j < arg.Length; j++)
            {
                switch (arg[j])
                {
                    case 'h':
                        help = true;
                        return null;
                    case 'i':
                        options = options with { Input = true };
                        break;
                    case 'o':
                        options = options with { Output = true };
                        break;
                    case 't':
                        options = options with { Timestamps = true };
                        break;
                    case 'x':
                        options = options with { Hex = true };
                        break;
                    case 'c':
                        options = options with { Color = true };
                        break;
                    case 'l':
                        options = options with { List = true };
                        break;
                    case 'a':
                        // optparse: the rest of this argument, else the next one.
                        if (j + 1 < arg.Length)
                        {
                            options = options with { Address = arg[(j + 1)..] };
                        }
                        else if (i + 1 < args.Count)
                        {
                            options = options with { Address = args[++i] };
                        }
                        else
                        {
                            error = "-a option requires 1 argument";
                            return null;
                        }

                        j = arg.Length;
                        break;
                    default:
                        error = $"no such option: -{arg[j]}";
                        return null;
                }
            }
        }

        return options with { Files = files };
    }
}
