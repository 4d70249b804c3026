using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Diagnostics;

/// <summary><c>tpt_tls_handshakes_total{side,result}</c>: a fixed grid, so cardinality is bounded by the enums.</summary>
internal sealed class TlsHandshakeMetrics
{
    private static readonly int Results = Enum.GetValues<TlsHandshakeResult>().Length;
    private readonly long[] _counts = new long[2 * Results];

    public void On(TlsSide side, TlsHandshakeResult result) => Interlocked.Increment(ref _counts[((int)side * Results) + (int)result]);

    public long Count(TlsSide side, TlsHandshakeResult result) => Interlocked.Read(ref _counts[((int)side * Results) + (int)result]);

    /// <summary>Declares <c>tpt_tls_handshakes_total</c>: every side's <c>ok</c> from the start, other results once seen.</summary>
    public void Declare(MetricRegistry registry) =>
        registry.Counter("tpt_tls_handshakes_total", "TLS handshakes tpt ran itself, by side (client: terminate_tls, upstream: upstream tls) and result", sink =>
        {
            foreach (var side in Enum.GetValues<TlsSide>())
            {
                foreach (var result in Enum.GetValues<TlsHandshakeResult>())
                {
                    var count = Count(side, result);
                    if (count > 0 || result == TlsHandshakeResult.Ok)
                    {
                        sink.Add(count, ("side", side == TlsSide.Client ? "client" : "upstream"), ("result", TlsHandshakeResults.Label(result)));
                    }
                }
            }
        });
}
