using System.Globalization;
using System.Net;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.IntegrationTests.Infrastructure;

namespace TlsProxyTunnel.IntegrationTests.Packaging;

/// <summary>
/// What a <c>docker build</c> would catch, checked without a Docker engine (none runs in CI). Publishing
/// and starting the image's binary takes longer than a test should (22–88 s measured on a 2-core machine, by load), so
/// that part is <c>deploy/container/verify.sh</c>, which <c>.ci/run</c> runs after the tests.
/// </summary>
public sealed class ContainerImageTests
{
    private static readonly string Root = Repository.Root;
    private static readonly Dockerfile Docker = Dockerfile.Load(Path.Combine(Root, "Dockerfile"));
    private static readonly string ContainerConfig = Path.Combine(Root, "container-files", "etc", "tpt", "config.yaml");

    [Fact]
    public void Every_COPY_source_exists_and_is_sent_in_the_build_context()
    {
        var ignore = DockerIgnore.Load(Path.Combine(Root, ".dockerignore"));
        var copies = Docker.Stages.SelectMany(s => s.Instructions)
            .Where(i => i is { Keyword: "COPY" or "ADD" } && !i.Flags.Any(f => f.StartsWith("--from=", StringComparison.Ordinal)))
            .ToList();
        Assert.NotEmpty(copies);
        foreach (var copy in copies)
        {
            Assert.True(copy.Words.Count >= 2, $"Dockerfile:{copy.Line}: COPY needs a source and a destination");
            foreach (var source in copy.Words.Take(copy.Words.Count - 1))
            {
                var full = Path.Combine(Root, source);
                Assert.True(File.Exists(full) || Directory.Exists(full), $"Dockerfile:{copy.Line}: COPY source '{source}' does not exist in the repository");
                Assert.True(ignore.IsIncluded(source), $"Dockerfile:{copy.Line}: COPY source '{source}' is excluded by .dockerignore");
                if (Directory.Exists(full))
                {
                    // Everything under a copied directory goes in, except build output.
                    foreach (var file in Directory.EnumerateFiles(full, "*", SearchOption.AllDirectories))
                    {
                        var relative = Path.GetRelativePath(Root, file).Replace('\\', '/');
                        var isBuildOutput = relative.Split('/').Any(p => p is "bin" or "obj");
                        Assert.True(ignore.IsIncluded(relative) != isBuildOutput,
                            isBuildOutput ? $"{relative} (build output) is not excluded by .dockerignore" : $"{relative} is excluded by .dockerignore but its directory is copied");
                    }
                }
            }
        }
    }

    [Fact]
    public void The_dockerignore_keeps_tests_docs_and_git_out_of_the_context()
    {
        var ignore = DockerIgnore.Load(Path.Combine(Root, ".dockerignore"));
        Assert.False(ignore.IsIncluded(".git/HEAD"));
        Assert.False(ignore.IsIncluded("tests/TlsProxyTunnel.Tests/TlsProxyTunnel.Tests.csproj"));
        Assert.False(ignore.IsIncluded("src/TlsProxyTunnel/obj/project.assets.json"));
        Assert.True(ignore.IsIncluded("src/TlsProxyTunnel/TlsProxyTunnel.csproj"));
    }

    [Fact]
    public void The_final_stage_runs_as_a_non_root_user()
    {
        var user = Docker.Final.Instructions.LastOrDefault(i => i.Keyword == "USER");
        Assert.True(user is not null, "the final stage has no USER, so the container would run as root");
        var name = user.Words[0].Split(':')[0];
        // The official .NET images define APP_UID=1654, their non-root "app" user.
        var isAppUid = name is "$APP_UID" or "${APP_UID}" && Docker.Final.Image.StartsWith("mcr.microsoft.com/dotnet/", StringComparison.Ordinal);
        var isNumber = int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var uid);
        var isOtherName = !isNumber && name != "root" && !name.StartsWith('$');
        Assert.True(isAppUid || (isNumber && uid != 0) || isOtherName, $"USER {name} is not a non-root user");
    }

    [Fact]
    public void The_runtime_image_is_the_chiseled_runtime_deps_image_for_a_self_contained_binary()
    {
        Assert.Matches(@"^mcr\.microsoft\.com/dotnet/runtime-deps:10\.0[-.a-z0-9]*-chiseled", Docker.Final.Image);
        var publish = BuildStage.Instructions.Single(i => i.Keyword == "RUN" && i.Arguments.Contains("dotnet publish", StringComparison.Ordinal));
        var properties = BuildStage.Instructions.Where(i => i.Keyword == "ARG").Select(i => i.Arguments).Append(publish.Arguments);
        Assert.Contains(properties, p => p.Contains("SelfContained=true", StringComparison.Ordinal) || p.Contains("--self-contained", StringComparison.Ordinal));
    }

    [Fact]
    public void The_entrypoint_is_the_published_binary_with_no_arguments()
    {
        var entrypoint = Docker.Final.Instructions.LastOrDefault(i => i.Keyword == "ENTRYPOINT");
        Assert.True(entrypoint is not null, "no ENTRYPOINT in the final stage");
        var exec = Dockerfile.ExecForm(entrypoint);
        Assert.True(exec is not null, "ENTRYPOINT must be the exec form, so that signals reach tpt and not a shell");
        Assert.Single(exec);
        // CMD would add arguments (for example a -c that overrides TPT_CONFIG).
        Assert.DoesNotContain(Docker.Final.Instructions, i => i.Keyword == "CMD");

        // The binary is what the build stage publishes: COPY --from=build <WORKDIR>/<-o dir>/tpt <entrypoint>.
        var copy = Docker.Final.Instructions.Single(i => i.Keyword == "COPY" && i.Flags.Contains($"--from={BuildStage.Name}"));
        Assert.Equal(exec[0], copy.Words[^1]);
        var workdir = BuildStage.Instructions.Last(i => i.Keyword == "WORKDIR").Words[0].TrimEnd('/');
        var publish = BuildStage.Instructions.Single(i => i.Keyword == "RUN" && i.Arguments.Contains("dotnet publish", StringComparison.Ordinal));
        var output = publish.Words.SkipWhile(w => w is not ("-o" or "--output")).Skip(1).First();
        Assert.Equal($"{workdir}/{output}/tpt", copy.Words[0]);
    }

    [Fact]
    public void EXPOSE_lists_exactly_the_listen_ports_of_the_container_config()
    {
        var exposed = Docker.Final.Instructions.Where(i => i.Keyword == "EXPOSE")
            .SelectMany(i => i.Words).Select(w => int.Parse(w.Split('/')[0], CultureInfo.InvariantCulture)).ToHashSet();
        var config = LoadContainerConfig(_ => null);
        var listening = config.Servers.SelectMany(s => s.Listen).Select(l => l.EndPoint.Port).ToHashSet();
        Assert.Equal(listening.Order(), exposed.Order());
    }

    [Fact]
    public void The_container_config_binds_every_interface_not_loopback()
    {
        var config = LoadContainerConfig(_ => null);
        foreach (var server in config.Servers)
        {
            Assert.All(server.Listen, l => Assert.True(l.EndPoint.Address.Equals(IPAddress.Any) || l.EndPoint.Address.Equals(IPAddress.IPv6Any),
                $"server {server.Name} listens on {l}, which is unreachable from outside a container"));
        }

        Assert.Contains(config.Upstreams.Values, u => u.Kind == UpstreamKind.Health);
        Assert.Contains(config.Servers, s => s.Default == "health");
    }

    public static TheoryData<string, string?, string?> Environments => new()
    {
        { "no environment", null, null },
        { "proxy host and credentials", "proxy.corp.example", "Basic dXNlcjpwYXNz" },
    };

    [Theory]
    [MemberData(nameof(Environments))]
    public async Task Tpt_check_accepts_the_container_config(string description, string? proxyHost, string? proxyAuth)
    {
        // A null value unsets the variable in the child, whatever the test process has.
        var environment = new Dictionary<string, string?> { ["HTTP_PROXY_HOST"] = proxyHost, ["PROXY_AUTH"] = proxyAuth, ["HTTP_PROXY_PORT"] = null };

        var (exitCode, stdout, stderr) = await TptProcess.RunToExitAsync(["check", "-c", ContainerConfig], environment);
        Assert.True(exitCode == 0, $"{description}: tpt check failed ({exitCode}):\n{stderr}{stdout}");
        if (proxyAuth is not null)
        {
            Assert.DoesNotContain(proxyAuth, stdout + stderr, StringComparison.Ordinal);
        }
    }

    private static DockerStage BuildStage => Docker.Stages.Single(s => s.Name == "build");

    private static ProxyConfig LoadContainerConfig(Func<string, string?> environment)
    {
        var loaded = ConfigLoader.Load(ContainerConfig, environment);
        Assert.True(loaded.Config is not null, string.Join('\n', loaded.Diagnostics));
        return loaded.Config;
    }
}
