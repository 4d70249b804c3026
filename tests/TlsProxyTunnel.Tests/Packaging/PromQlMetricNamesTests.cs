namespace TlsProxyTunnel.Tests.Packaging;

public sealed class PromQlMetricNamesTests
{
    [Theory]
    [InlineData("up{job=\"tpt\"} == 0", "up")]
    [InlineData("sum by (name) (rate(tpt_x_total{name=~\"$server\", job=\"a b\"}[$__rate_interval]))", "tpt_x_total")]
    [InlineData("histogram_quantile(0.99, sum by (name, le) (rate(tpt_d_seconds_bucket[5m])))", "tpt_d_seconds_bucket")]
    [InlineData("process_open_fds / process_max_fds > 0.8", "process_open_fds,process_max_fds")]
    [InlineData("sum(a) by (instance) / on (instance) group_left (name) max without (listen) (b offset 1h)", "a,b")]
    [InlineData("rate(c_total[1m:10s]) > 1e3 and d unless absent(e{f=\"g}\"})", "c_total,d,e")]
    [InlineData("label_values(tpt_config_generation{job=~\"$job\"}, instance)", "tpt_config_generation")]
    [InlineData("label_values(job)", "")]
    [InlineData("vector(1) * ${factor}", "")]
    public void Finds_exactly_the_metric_names(string expression, string expected)
    {
        var names = expected.Length == 0 ? [] : expected.Split(',');
        Assert.Equal(names, PromQlMetricNames.Of(expression));
    }
}
