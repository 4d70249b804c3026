using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TlsProxyTunnel.Configuration;
using TlsProxyTunnel.Diagnostics;
using TlsProxyTunnel.Dns;
using TlsProxyTunnel.Hosting;
using TlsProxyTunnel.Runtime;

namespace TlsProxyTunnel.Tests.Packaging;

/// <summary>
/// The metric names tpt exposes, taken from the code: tpt's own services are composed as at start (nothing
/// bound or started) and /metrics is rendered. Every family writes its HELP and TYPE even with no samples, so
/// the list is complete whatever has been counted; a histogram contributes its _bucket, _sum and _count series.
/// </summary>
internal static partial class ExposedMetrics
{
    /// <summary>Series Prometheus itself adds for every target (not on /metrics).</summary>
    public static readonly IReadOnlySet<string> PerTarget = new HashSet<string>(StringComparer.Ordinal)
    {
        "up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added",
    };

    private static readonly Lazy<HashSet<string>> Names = new(Collect);

    public static IReadOnlySet<string> All => Names.Value;

    /// <summary>The rendered /metrics text of a freshly composed tpt.</summary>
    public static string Render()
    {
        var config = ConfigLoader.LoadText(
            """
            version: 2
            servers:
              web:
                listen: ["127.0.0.1:0"]
                tls: true
                default: backend
              health:
                listen: ["127.0.0.1:0"]
                default: health
            upstream:
              backend: "tcp://127.0.0.1:1"
            """,
            "metrics.yaml",
            _ => null).Config!;
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        TptApp.AddServices(builder.Services, config, new ReloadOptions("metrics.yaml", _ => null, Watch: false));
        using var host = builder.Build();
        var services = host.Services;

        // What creates series when the process starts: the snapshot (servers, routes, upstreams). The DNS and
        // process families come with ProxyMetrics itself; the hosted services are built as at start anyway.
        _ = services.GetRequiredService<RuntimeSnapshot>();
        _ = services.GetRequiredService<DnsHostResolver>();
        _ = services.GetServices<IHostedService>().ToList();
        return services.GetRequiredService<ProxyMetrics>().Render();
    }

    private static HashSet<string> Collect()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match family in TypeLine().Matches(Render()))
        {
            var name = family.Groups[1].Value;
            names.Add(name);
            if (family.Groups[2].Value is "histogram" or "summary")
            {
                names.UnionWith([name + "_sum", name + "_count"]);
                if (family.Groups[2].Value == "histogram")
                {
                    names.Add(name + "_bucket");
                }
            }
        }

        return names;
    }

    [GeneratedRegex(@"^# TYPE (\S+) (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();
}
