using TlsProxyTunnel.Dns;

namespace TlsProxyTunnel.Diagnostics;

/// <summary>The resolver's counters as metric families.</summary>
internal sealed class DnsMetrics(ResolverCounters counters) : IMetricSource
{
    public void Declare(MetricRegistry registry)
    {
        registry.Counter("tpt_dns_lookups_total", "DNS questions sent", sink => sink.Add(counters.Lookups));
        registry.Counter("tpt_dns_failures_total", "DNS lookups that failed", sink => sink.Add(counters.Failures));
        registry.Counter("tpt_dns_stale_answers_total", "Answers served from an expired record because refreshing it failed", sink => sink.Add(counters.StaleAnswers));
    }
}
