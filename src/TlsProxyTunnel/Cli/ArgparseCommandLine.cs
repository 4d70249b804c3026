using System.Globalization;

namespace TlsProxyTunnel.Cli;

/// <summary>One option of an argparse-style command line; <see cref="Short"/> is its key in the parsed values.</summary>
/// <param name="Long">The long form (<c>--bind-port</c>).</param>
/// <param name="Short">The short form (<c>-p</c>), or the long form again for an option that has none.</param>
/// <param name="Flag">True when it takes no value.</param>
internal sealed record ArgparseOption(string Long, string Short, bool Flag)
{
    /// <summary>As argparse names it in an error: <c>-p/--bind-port</c>, or the long form alone.</summary>
    public string Shown => Short == Long ? Long : $"{Short}/{Long}";
}

/// <summary>A command line's options and operands, for <see cref="ArgparseCommandLine.Parse"/>.</summary>
internal sealed record ArgparseSyntax
{
    public required IReadOnlyList<ArgparseOption> Options { get; init; }

    /// <summary>The operands that must be there, by their names in the "required" error.</summary>
    public IReadOnlyList<string> RequiredOperands { get; init; } = [];

    /// <summary>How many more operands may follow the required ones.</summary>
    public int OptionalOperands { get; init; }

    /// <summary>Pairs of options (by key) that may not both be given: argparse's mutually exclusive groups.</summary>
    public IReadOnlyList<(string First, string Second)> Exclusive { get; init; } = [];

    /// <summary>
    /// argparse reads <c>-5</c> as an operand when no option looks like a negative number; the ptw port has always
    /// read it as an (unknown) option, so that stays a choice of each command.
    /// </summary>
    public bool NegativeNumberOperands { get; init; }

    /// <summary>
    /// True (tx_tlsrelay): an option's separate value may not start with <c>-</c> at all. False (argparse): <c>-</c> and
    /// negative numbers are values.
    /// </summary>
    public bool NoDashValues { get; init; }
}

/// <summary>
/// What <see cref="ArgparseCommandLine.Parse"/> found: the last value of each option given (by key), the flags given,
/// the operands; or help asked for; or a usage error.
/// </summary>
internal sealed record ArgparseResult(
    IReadOnlyDictionary<string, string> Values,
    IReadOnlySet<string> Flags,
    IReadOnlyList<string> Operands,
    bool Help,
    string? Error);

/// <summary>
/// The command-line rules of Python's argparse that the ported tools (ptw, uotp-client/server, tx_tlsrelay) share:
/// long options as <c>--opt V</c> or <c>--opt=V</c> and by any unambiguous prefix, short ones as <c>-p V</c> or
/// <c>-pV</c>, options and operands in any order, <c>--</c> ending options, the last of a repeated option winning,
/// and argparse's wording for usage errors. The value checks argparse's <c>type=</c> makes are here too.
/// </summary>
internal static class ArgparseCommandLine
{
    /// <summary>Help (<c>-h</c>) wins over everything but an error met while reading the options.</summary>
    public static ArgparseResult Parse(ArgparseSyntax syntax, IReadOnlyList<string> args)
    {
        var table = syntax.Options;
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        var operands = new List<string>();
        ArgparseResult Fail(string message) => new(values, flags, operands, false, message);

        var optionsEnded = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (optionsEnded || arg == "-" || !arg.StartsWith('-') || (syntax.NegativeNumberOperands && IsNegativeNumber(arg)))
            {
                operands.Add(arg);
                continue;
            }

            if (arg == "--")
            {
                optionsEnded = true;
                continue;
            }

            ArgparseOption option;
            string? attached;
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

                option = matches[0];
                if (option.Flag && attached is not null)
                {
                    return Fail($"argument {option.Long}: ignored explicit argument '{attached}'");
                }
            }
            else
            {
                var key = arg[..2];
                if (table.FirstOrDefault(o => o.Short == key) is not { } shortOption)
                {
                    return Fail($"unrecognized arguments: {arg}");
                }

                option = shortOption;
                attached = arg.Length > 2 ? arg[2..] : null;
            }

            if (option.Flag)
            {
                flags.Add(option.Short);
                continue;
            }

            if (attached is null)
            {
                if (i + 1 >= args.Count || LooksLikeOption(syntax, args[i + 1]))
                {
                    return Fail($"argument {option.Shown}: expected one argument");
                }

                attached = args[++i];
            }

            values[option.Short] = attached;
        }

        if (flags.Contains("-h"))
        {
            return new ArgparseResult(values, flags, operands, true, null);
        }

        foreach (var (first, second) in syntax.Exclusive)
        {
            if (Given(first) && Given(second))
            {
                return Fail($"argument {Shown(first)}: not allowed with argument {Shown(second)}");
            }
        }

        if (operands.Count < syntax.RequiredOperands.Count)
        {
            return Fail($"the following arguments are required: {string.Join(", ", syntax.RequiredOperands.Skip(operands.Count))}");
        }

        var most = syntax.RequiredOperands.Count + syntax.OptionalOperands;
        if (operands.Count > most)
        {
            return Fail($"unrecognized arguments: {string.Join(' ', operands.Skip(most))}");
        }

        return new ArgparseResult(values, flags, operands, false, null);

        bool Given(string key) => values.ContainsKey(key) || flags.Contains(key);

        string Shown(string key) => table.First(o => o.Short == key).Shown;
    }

    /// <summary>
    /// Argparse's <c>type=</c> check for a port: an integer from 1 to 65535; else 0 and the first error kept.
    /// </summary>
    public static int Port(string what, string text, ref string? error)
    {
        if (int.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536)
        {
            return port;
        }

        error ??= $"argument {what}: {text} is not a valid port number";
        return 0;
    }

    public static int PositiveInt(string what, string text, ref string? error)
    {
        if (int.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value > 0)
        {
            return value;
        }

        error ??= $"argument {what}: {text} is not a valid value";
        return 0;
    }

    public static double PositiveSeconds(string what, string text, ref string? error)
    {
        // Python's float(): decimal or exponent forms; "inf" and "nan" are floats there but no use as a timeout.
        if (double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 && double.IsFinite(value))
        {
            return value;
        }

        error ??= $"argument {what}: {text} is not a valid value";
        return 0;
    }

    /// <summary>Argparse's <c>choices=</c>: the text when it is one of them, else the first choice and an error.</summary>
    public static string Choice(string what, string text, string[] choices, ref string? error)
    {
        if (choices.Contains(text, StringComparer.Ordinal))
        {
            return text;
        }

        error ??= $"argument {what}: invalid choice: '{text}' (choose from {string.Join(", ", choices.Select(c => $"'{c}'"))})";
        return choices[0];
    }

    private static bool LooksLikeOption(ArgparseSyntax syntax, string next) =>
        syntax.NoDashValues ? next.StartsWith('-') : next.StartsWith('-') && next != "-" && !IsNegativeNumber(next);

    private static bool IsNegativeNumber(string text) => text.Length > 1 && text[0] == '-' && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _);
}
