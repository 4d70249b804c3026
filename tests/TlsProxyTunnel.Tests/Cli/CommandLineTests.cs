using TlsProxyTunnel.Cli;

namespace TlsProxyTunnel.Tests.Cli;

public sealed class CommandLineTests
{
    [Theory]
    [InlineData(new string[0], "Run", null)]
    [InlineData(new[] { "-c", "x.yaml" }, "Run", "x.yaml")]
    [InlineData(new[] { "--config", "x.yaml" }, "Run", "x.yaml")]
    [InlineData(new[] { "--config=x.yaml" }, "Run", "x.yaml")]
    [InlineData(new[] { "check" }, "Check", null)]
    [InlineData(new[] { "check", "-c", "x.yaml" }, "Check", "x.yaml")]
    [InlineData(new[] { "--check", "--config=x.yaml" }, "Check", "x.yaml")]
    [InlineData(new[] { "-c", "x.yaml", "check" }, "Check", "x.yaml")]
    [InlineData(new[] { "--config=x.yaml", "check" }, "Check", "x.yaml")]
    [InlineData(new[] { "-c", "check" }, "Run", "check")]
    [InlineData(new[] { "-c", "check", "check" }, "Check", "check")]
    [InlineData(new[] { "-c", "x.yaml", "--help" }, "Help", null)]
    [InlineData(new[] { "-h" }, "Help", null)]
    [InlineData(new[] { "--version" }, "Version", null)]
    public void Parses_the_documented_forms(string[] args, string command, string? path)
    {
        var options = CommandLine.Parse(args);
        Assert.Null(options.Error);
        Assert.Equal(Enum.Parse<CliCommand>(command), options.Command);
        Assert.Equal(path, options.ConfigPath);
    }

    [Fact]
    public void Watch_is_a_flag()
    {
        Assert.True(CommandLine.Parse(["--watch", "-c", "a"]).Watch);
    }

    [Theory]
    [InlineData(new[] { "-c" }, "-c needs a file path")]
    [InlineData(new[] { "--config=" }, "--config= needs a file path")]
    [InlineData(new[] { "--bogus" }, "unknown argument '--bogus'")]
    [InlineData(new[] { "-c", "a", "-c", "b" }, "the configuration file is given twice")]
    public void Rejects_what_it_does_not_understand(string[] args, string error)
    {
        Assert.Equal(error, CommandLine.Parse(args).Error);
    }
}

public sealed class ExplainCommandLineTests
{
    [Theory]
    [InlineData(new[] { "explain", "a.test" }, "a.test", null, false, null)]
    [InlineData(new[] { "explain", "-c", "x.yaml", "a.test" }, "a.test", null, false, "x.yaml")]
    [InlineData(new[] { "-c", "x.yaml", "explain", "--json", "a.test" }, "a.test", null, true, "x.yaml")]
    [InlineData(new[] { "explain", "--hello", "h.bin", "--json" }, null, "h.bin", true, null)]
    public void Parses_a_name_or_a_hello_file(string[] args, string? name, string? hello, bool json, string? config)
    {
        var options = CommandLine.Parse(args);
        Assert.Null(options.Error);
        Assert.Equal((CliCommand.Explain, name, hello, json, config), (options.Command, options.ExplainName, options.HelloPath, options.Json, options.ConfigPath));
    }

    [Theory]
    [InlineData(new[] { "explain" }, "explain needs a NAME or --hello FILE")]
    [InlineData(new[] { "explain", "a.test", "b.test" }, "explain takes one NAME, got 2")]
    [InlineData(new[] { "explain", "a.test", "--hello", "h.bin" }, "explain takes a NAME or --hello FILE, not both")]
    [InlineData(new[] { "explain", "--hello" }, "--hello needs a file path")]
    [InlineData(new[] { "explain", "--watch", "a.test" }, "explain does not take --watch")]
    [InlineData(new[] { "explain", "--bogus", "a.test" }, "unknown argument '--bogus'")]
    public void Usage_errors_exit_2(string[] args, string error)
    {
        var options = CommandLine.Parse(args);
        Assert.Equal((error, 2), (options.Error, options.ErrorExitCode));
    }

    [Theory]
    [InlineData(new[] { "a.test" }, "unknown argument 'a.test'")]
    [InlineData(new[] { "check", "--json" }, "unknown argument '--json'")]
    [InlineData(new[] { "--bogus" }, "unknown argument '--bogus'")]
    public void Other_commands_keep_exit_1_and_take_no_name(string[] args, string error)
    {
        var options = CommandLine.Parse(args);
        Assert.Equal((error, 1), (options.Error, options.ErrorExitCode));
    }
}

public sealed class ConfigFileLocatorTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Key == name).Value;

    [Fact]
    public void The_command_line_wins_over_the_environment_and_defaults()
    {
        var found = ConfigFileLocator.Locate("/x/cli.yaml", Env(("TPT_CONFIG", "/x/env.yaml")), _ => true);
        Assert.Equal("/x/cli.yaml", found.Path);
    }

    [Fact]
    public void Tpt_config_wins_over_defaults()
    {
        var found = ConfigFileLocator.Locate(null, Env(("TPT_CONFIG", "/x/env.yaml")), _ => true);
        Assert.Equal("/x/env.yaml", found.Path);
    }

    [Fact]
    public void A_missing_explicit_file_is_an_error_not_a_fall_through()
    {
        var cli = ConfigFileLocator.Locate("/x/missing.yaml", Env(), p => p == "./config.yaml");
        Assert.Null(cli.Path);
        Assert.Contains("/x/missing.yaml", cli.Error, StringComparison.Ordinal);

        var env = ConfigFileLocator.Locate(null, Env(("TPT_CONFIG", "/x/missing.yaml")), p => p == "./config.yaml");
        Assert.Null(env.Path);
        Assert.Contains("TPT_CONFIG", env.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_are_searched_in_order()
    {
        var found = ConfigFileLocator.Locate(null, Env(), p => p is "./tpt.yaml" or "./config.yaml");
        Assert.Equal("./tpt.yaml", found.Path);
        found = ConfigFileLocator.Locate(null, Env(), p => p is "/etc/tpt/config.yaml" or "./tpt.yaml");
        Assert.Equal("/etc/tpt/config.yaml", found.Path);
    }

    [Fact]
    public void Nothing_found_lists_every_path_tried()
    {
        var found = ConfigFileLocator.Locate(null, Env(), _ => false);
        Assert.Null(found.Path);
        foreach (var path in ConfigFileLocator.DefaultPaths)
        {
            Assert.Contains(path, found.Error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_directory_is_called_a_directory_not_a_missing_file()
    {
        var cli = ConfigFileLocator.Locate("/etc/tpt", Env(), _ => false, p => p == "/etc/tpt");
        Assert.Equal("configuration file '/etc/tpt' (from -c/--config) is a directory; give the path of the YAML file in it", cli.Error);
        var env = ConfigFileLocator.Locate(null, Env(("TPT_CONFIG", "/etc/tpt")), _ => false, p => p == "/etc/tpt");
        Assert.Contains("(from TPT_CONFIG) is a directory", env.Error, StringComparison.Ordinal);
        var missing = ConfigFileLocator.Locate("/x/missing.yaml", Env(), _ => false, _ => false);
        Assert.Contains("does not exist", missing.Error, StringComparison.Ordinal);
    }
}
