using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Cli;

/// <summary>The command line as a user meets it: the real binary, real files, exit codes.</summary>
public sealed class CliProcessTests
{

    [Fact]
    public async Task Help_prints_usage_and_exits_0()
    {
        var (exitCode, stdout, _) = await TptProcess.RunToExitAsync(["--help"]);
        Assert.Equal(0, exitCode);
        Assert.Contains("Usage: tpt", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Version_prints_the_version()
    {
        var (exitCode, stdout, _) = await TptProcess.RunToExitAsync(["--version"]);
        Assert.Equal(0, exitCode);
        Assert.Matches(@"^tpt \d+\.\d+\.\d+", stdout);
    }

    [Fact]
    public async Task An_unknown_argument_exits_1()
    {
        var (exitCode, _, stderr) = await TptProcess.RunToExitAsync(["--bogus"]);
        Assert.Equal(1, exitCode);
        Assert.Contains("unknown argument '--bogus'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_accepts_the_example_configuration()
    {
        var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["check", "-c", Path.Combine(Repository.Root, "config.yaml.example")]);
        Assert.True(exitCode == 0, stderr);
        Assert.Contains("is valid", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_reports_every_error_with_file_line_and_column_and_exits_1()
    {
        using var config = new TempConfig("""
            version: 2
            servers:
              web:
                listen: ["127.0.0.1:0"]
                maxclient: 5
                default: nowhere
            """);
        var (exitCode, _, stderr) = await TptProcess.RunToExitAsync(["check", "-c", config.Path]);
        Assert.Equal(1, exitCode);
        Assert.Contains($"{config.Path}:5:5", stderr, StringComparison.Ordinal);
        Assert.Contains("maxclients", stderr, StringComparison.Ordinal);
        Assert.Contains("nowhere", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_config_error_exits_1_before_binding_anything()
    {
        using var config = new TempConfig("""
            version: 2
            servers:
              web:
                listen: ["127.0.0.1:0"]
                default: nowhere
            """);
        var (exitCode, _, stderr) = await TptProcess.RunToExitAsync(["-c", config.Path]);
        Assert.Equal(1, exitCode);
        Assert.DoesNotContain("Listening", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tpt_config_selects_the_file_and_a_missing_one_is_an_error()
    {
        using var config = new TempConfig("""
            version: 2
            servers:
              web:
                listen: ["127.0.0.1:0"]
                default: echo
            """);
        var (ok, _, _) = await TptProcess.RunToExitAsync(["check"], new Dictionary<string, string?> { ["TPT_CONFIG"] = config.Path });
        Assert.Equal(0, ok);

        var (missing, _, stderr) = await TptProcess.RunToExitAsync(["check"], new Dictionary<string, string?> { ["TPT_CONFIG"] = config.Path + ".nope" });
        Assert.Equal(1, missing);
        Assert.Contains("TPT_CONFIG", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Finds_config_yaml_in_the_working_directory()
    {
        using var config = new TempConfig("""
            version: 2
            servers:
              web:
                listen: ["127.0.0.1:0"]
                default: echo
            """);
        File.Move(config.Path, Path.Combine(config.Directory, "config.yaml"));
        var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["check"], workingDirectory: config.Directory);
        Assert.True(exitCode == 0, stderr);
        Assert.Contains("./config.yaml", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Environment_values_never_reach_the_check_output()
    {
        using var config = new TempConfig("""
            version: 2
            servers:
              web:
                listen: ["127.0.0.1:0"]
                default: up
                via:
                  target: "example.net:443"
                  headers:
                    Proxy-Authorization: "Basic ${SECRET_TOKEN}"
            upstream:
              up: "tcp://${BACKEND_HOST}:3128"
            """);
        var env = new Dictionary<string, string?> { ["SECRET_TOKEN"] = "s3cr3t-t0ken-value", ["BACKEND_HOST"] = "hidden-backend.internal" };
        var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["check", "-c", config.Path], env);
        Assert.True(exitCode == 0, stderr);
        Assert.DoesNotContain("s3cr3t-t0ken-value", stdout + stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("hidden-backend.internal", stdout + stderr, StringComparison.Ordinal);
    }
}
