using System.Net;
using System.Text.RegularExpressions;

namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>The real tpt binary on a configuration written for one test; both go away on dispose.</summary>
public sealed partial class TptRun : IAsyncDisposable
{
    private readonly TempConfig _config;

    private TptRun(TempConfig config, TptProcess process)
    {
        _config = config;
        Process = process;
    }

    public TptProcess Process { get; }

    public static async Task<TptRun> StartAsync(string yaml, int listeners, IDictionary<string, string?>? environment = null)
    {
        var config = new TempConfig(yaml);
        try
        {
            return new TptRun(config, await TptProcess.StartAsync(config.Path, listeners, environment));
        }
        catch
        {
            config.Dispose();
            throw;
        }
    }

    public IPEndPoint EndPoint(string server) => Process.EndPoint(server);

    /// <summary>The value of one Prometheus sample from the <c>health</c> server, or 0 when absent.</summary>
    public async Task<long> MetricAsync(string healthServer, string sample)
    {
        var answer = await HttpProbe.GetAsync(EndPoint(healthServer), "/metrics");
        Assert.Equal(200, answer.Status);
        foreach (var line in answer.Body.Split('\n'))
        {
            var match = SampleLine().Match(line);
            if (match.Success && match.Groups[1].Value == sample)
            {
                return (long)double.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        _config.Dispose();
    }

    [GeneratedRegex(@"^(\S+) (\S+)$")]
    private static partial Regex SampleLine();
}
