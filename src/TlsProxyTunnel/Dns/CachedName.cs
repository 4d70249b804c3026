namespace TlsProxyTunnel.Dns;

/// <summary>
/// What is known about one (name, family): the last good answer and how long it may serve, or the last failure.
/// <list type="bullet">
/// <item>A good answer lives for its TTL; a hit in the last 20% of it asks for a refresh behind the answer, so
/// names in use never expire in a caller's face.</item>
/// <item>A failed refresh keeps the last good answer, served with <c>Stale = true</c>, until <c>stale_for</c>
/// past its expiry.</item>
/// <item>After a failure no new lookup is tried for the negative TTL, so a dead server costs each caller nothing;
/// a name with no good answer fails with the cached error meanwhile.</item>
/// </list>
/// Not thread-safe: <see cref="NameCache"/> holds <see cref="Gate"/> around every call.
/// </summary>
internal sealed class CachedName(HostToResolve host)
{
    private const double RefreshAtFraction = 0.8;
    private static readonly TimeSpan FailureLogInterval = TimeSpan.FromSeconds(30);

    private ResolveResult? _good;
    private ResolveResult? _goodStale;
    private ResolveResult? _negative;
    private DateTimeOffset _resolvedAt;
    private DateTimeOffset _refreshAt;
    private DateTimeOffset _expiresAt;
    private DateTimeOffset _staleUntil;
    private DateTimeOffset _retryAt = DateTimeOffset.MinValue;
    private DateTimeOffset _lastFailureLog = DateTimeOffset.MinValue;

    public Lock Gate { get; } = new();

    /// <summary>How the first caller named the host; what the lookup's messages and log lines show.</summary>
    public HostToResolve Host { get; } = host;

    /// <summary>The one lookup under way, shared by every caller that needs it (single flight).</summary>
    public Task<ResolveResult>? InFlight { get; set; }

    /// <summary>
    /// The answer to give a caller at <paramref name="now"/> without waiting, if there is one;
    /// <paramref name="refresh"/> says a lookup should start behind it (when none is running).
    /// </summary>
    public ResolveResult? Answer(DateTimeOffset now, out bool refresh)
    {
        refresh = false;
        if (_good is not null)
        {
            if (now < _expiresAt)
            {
                refresh = now >= _refreshAt && now >= _retryAt;
                return _good;
            }

            // A lookup just failed: answer at once instead of waiting on another.
            return now < _staleUntil && now < _retryAt ? _goodStale : null;
        }

        return _negative is not null && now < _retryAt ? _negative : null;
    }

    /// <summary>Where the answer stands at <paramref name="now"/>, for the status page.</summary>
    public DnsCacheView View(DateTimeOffset now)
    {
        if (_good is not null)
        {
            var state = now < _expiresAt ? DnsAnswerState.Fresh : now < _staleUntil ? DnsAnswerState.Stale : DnsAnswerState.Expired;
            return new DnsCacheView(state, _good.Addresses, now - _resolvedAt, _expiresAt - _resolvedAt);
        }

        return _negative is not null
            ? new DnsCacheView(DnsAnswerState.Failed, [], null, null)
            : new DnsCacheView(DnsAnswerState.Pending, [], null, null);
    }

    public void Succeeded(ResolveResult result, TimeSpan ttl, TimeSpan staleFor, DateTimeOffset now)
    {
        _good = result;
        _goodStale = ResolveResult.Success(result.Addresses, stale: true);
        _negative = null;
        _resolvedAt = now;
        _refreshAt = now + (ttl * RefreshAtFraction);
        _expiresAt = now + ttl;
        _staleUntil = _expiresAt + staleFor;
        _retryAt = DateTimeOffset.MinValue;
    }

    /// <summary>Records a failed lookup; returns what the waiting callers get (the stale answer, or the failure).</summary>
    /// <param name="staleLeft">How long the stale answer may still serve; zero when there is none.</param>
    /// <param name="log">Whether to log this failure: one line per name per 30 s, so a dead server cannot flood the log.</param>
    public ResolveResult Failed(ResolveResult failure, TimeSpan negativeTtl, DateTimeOffset now, out TimeSpan staleLeft, out bool log)
    {
        _retryAt = now + negativeTtl;
        log = now - _lastFailureLog >= FailureLogInterval;
        if (log)
        {
            _lastFailureLog = now;
        }

        if (_good is not null && now < _staleUntil)
        {
            staleLeft = _staleUntil - now;
            return _goodStale!;
        }

        _good = null;
        _goodStale = null;
        _negative = failure;
        staleLeft = TimeSpan.Zero;
        return failure;
    }
}
