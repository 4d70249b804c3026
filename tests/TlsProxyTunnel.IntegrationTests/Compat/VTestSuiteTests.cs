namespace TlsProxyTunnel.IntegrationTests.Compat;

/// <summary>
/// The suite's files are run one at a time, after the parallel tests: their timing checks (stats intervals, drain)
/// are written for a quiet machine. Their fixed ports are replaced by free ones (<see cref="VTestSuite.Copy"/>).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FixedPorts
{
    public const string Name = "tls-proxy-tunnel VTest suite (fixed ports)";
}

/// <summary>
/// tls-proxy-tunnel's own functional suite, run with Debian's varnishtest against tpt: every file passes, except the
/// <see cref="RecordedDifference"/>s, which must fail exactly on the behaviour tpt changed on purpose.
/// </summary>
[Collection(FixedPorts.Name)]
public sealed class VTestSuiteTests
{
    public static TheoryData<string> SuiteFiles() => new(VTestSuite.Files);

    [Fact]
    public void The_suite_is_complete_and_every_recorded_difference_names_one_of_its_files()
    {
        Assert.Equal(21, VTestSuite.Files.Count);
        Assert.All(RecordedDifference.All, d => Assert.Contains(d.File, VTestSuite.Files));
    }

    [Theory]
    [MemberData(nameof(SuiteFiles))]
    public async Task Passes_against_tpt_or_fails_only_on_its_recorded_difference(string file)
    {
        var varnishtest = RequireTools();
        var difference = RecordedDifference.For(file);

        var run = await RunAsync(varnishtest, file, edit: null);
        if (difference is null)
        {
            Assert.True(run.Passed, $"{file} failed against tpt (varnishtest exit {run.ExitCode}):\n{run.Log}");
            return;
        }

        difference.AssertFailsExactlyAsRecorded(run);

        // The rest of the file still counts: without the disputed check it must pass.
        var without = await RunAsync(varnishtest, file, difference.WithoutIt);
        Assert.True(without.Passed, $"{file} without its recorded difference failed against tpt (varnishtest exit {without.ExitCode}):\n{without.Log}");
    }

    private static async Task<VarnishTestRun> RunAsync(string varnishtest, string file, Func<string, string>? edit)
    {
        var path = VTestSuite.Copy(file, edit);
        try
        {
            return await VarnishTest.RunAsync(varnishtest, path);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    /// <summary>The suite's tools; a missing one fails the test (as CI must), never skips it.</summary>
    private static string RequireTools()
    {
        var varnishtest = VarnishTest.Find("varnishtest");
        Assert.True(varnishtest is not null, "varnishtest is missing: install the Debian package 'varnish' (.ci/run does)");
        Assert.True(VarnishTest.Find("nc") is not null, "nc is missing: the suite waits for listeners with it; install the Debian package 'netcat-openbsd'");
        Assert.True(VarnishTest.Find("python3") is not null, "python3 is missing: the suite's backends and clients are Python; install the Debian package 'python3'");
        return varnishtest;
    }
}
