namespace TlsProxyTunnel.Dns;

/// <summary>The resolver's counters, for <c>/metrics</c>; written by the lookups and the cache, read by the scrape.</summary>
internal sealed class ResolverCounters
{
    private long _lookups;
    private long _failures;
    private long _staleAnswers;

    /// <summary>DNS questions sent (one per name and record type; <c>tcp://</c> asks A and AAAA).</summary>
    public long Lookups => Interlocked.Read(ref _lookups);

    /// <summary>Lookups (all candidates and families of one resolution) that produced no address.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Answers returned with <see cref="ResolveResult.Stale"/> set.</summary>
    public long StaleAnswers => Interlocked.Read(ref _staleAnswers);

    public void OnQuestion() => Interlocked.Increment(ref _lookups);

    public void OnFailure() => Interlocked.Increment(ref _failures);

    public void OnStaleAnswer() => Interlocked.Increment(ref _staleAnswers);
}
