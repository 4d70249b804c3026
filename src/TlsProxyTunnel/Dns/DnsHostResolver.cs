using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Dns;

/// <summary>
/// The resolver for upstream and proxy host names; the only code that talks to DnsClient.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>IP literals skip DNS. Hosts-file names resolve from the hosts file (re-read when it
/// changes), and <c>localhost</c>/<c>*.localhost</c> to loopback when the file does not list them:
/// DnsClient knows neither. A hosts entry with no address of the wanted family falls through to
/// DNS, as glibc does.</item>
/// <item>resolv.conf <c>search</c>/<c>domain</c> and <c>ndots</c> are applied the glibc way (see
/// <see cref="ResolvConf.Candidates"/>) even when <c>resolver.nameservers</c> is set, so Kubernetes
/// short names keep working with an explicit server. Name servers come from the settings, else from
/// resolv.conf.</item>
/// <item>When no name server is configured in the settings and DNS gives nothing, the system
/// resolver (getaddrinfo: nsswitch, mDNS, …) is asked last, with <c>min_ttl</c> as its TTL. With
/// explicit name servers it is not: the user chose those servers.</item>
/// <item>Answers live for the smallest record TTL clamped to [min_ttl, max_ttl], per (name, family).
/// A hit in the last 20% of the lifetime starts a background refresh, so names in use never expire
/// in a caller's face. One lookup runs per entry at a time; concurrent callers share it.</item>
/// <item>A failed refresh keeps the last good answer, returned with <c>Stale = true</c>, until
/// <c>stale_for</c> past its expiry; after a failure no new lookup is tried for the negative TTL
/// (min(min_ttl, 5 s)), so a dead server costs each caller nothing. A name with no good answer
/// fails with the cached error for the negative TTL.</item>
/// <item>Each lookup (every search candidate and both families) is bounded by <c>resolver.timeout</c>,
/// measured on the real clock; cache ages use the injected <see cref="TimeProvider"/>.</item>
/// </list>
/// The cache is keyed by configured names only (never client input), so it is not size-bounded.
/// </remarks>
internal sealed partial class DnsHostResolver : IHostResolver, IDisposable
{
    private const double RefreshAtFraction = 0.8;
    private static readonly TimeSpan MaxNegativeTtl = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan FailureLogInterval = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan HostsRecheckInterval = TimeSpan.FromSeconds(2);
    private static readonly IPAddress[] LoopbackAddresses = [IPAddress.Loopback, IPAddress.IPv6Loopback];

    private readonly ResolverSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SystemResolverFiles _files;
    private readonly ResolvConf _resolvConf;
    private readonly LookupClient? _dns;
    private readonly bool _systemFallback;
    private readonly ConcurrentDictionary<(string Name, AddressFamilyFilter Family), Entry> _cache = new();
    private readonly CancellationTokenSource _disposed = new();
    private readonly CancellationToken _disposedToken;
    private readonly Lock _hostsGate = new();
    private volatile HostsFile _hosts = HostsFile.Empty;
    private DateTimeOffset _hostsCheckedAt = DateTimeOffset.MinValue;
    private DateTime _hostsWriteTime;
    private long _lookupCount;
    private long _failureCount;
    private long _staleAnswerCount;

    public DnsHostResolver(
        ResolverSettings settings,
        TimeProvider? timeProvider = null,
        ILogger<DnsHostResolver>? logger = null,
        SystemResolverFiles? files = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings;
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _files = files ?? SystemResolverFiles.Default;

        // Kept apart from the source so lookups still running at disposal see cancellation, not ObjectDisposedException.
        _disposedToken = _disposed.Token;
        _resolvConf = ResolvConf.Load(_files.ResolvConfPath);
        _systemFallback = settings.Nameservers.Count == 0;

        var servers = settings.Nameservers.Count > 0 ? settings.Nameservers : _resolvConf.Nameservers;
        if (servers.Count > 0)
        {
            _dns = new LookupClient(new LookupClientOptions([.. servers])
            {
                // We cache ourselves, with TTL clamping, stale serving and single flight.
                UseCache = false,
                Timeout = settings.Timeout,
                Retries = 1,
                ThrowDnsErrors = false,
                ContinueOnDnsError = true,
                UseRandomNameServer = false,
                EnableAuditTrail = false,
            });
        }
    }

    /// <summary>DNS questions sent (one per name and record type; <c>tcp://</c> asks A and AAAA).</summary>
    public long LookupCount => Interlocked.Read(ref _lookupCount);

    /// <summary>Lookups (all candidates and families of one resolution) that produced no address.</summary>
    public long FailureCount => Interlocked.Read(ref _failureCount);

    /// <summary>Answers returned with <see cref="ResolveResult.Stale"/> set.</summary>
    public long StaleAnswerCount => Interlocked.Read(ref _staleAnswerCount);

    private TimeSpan NegativeTtl => _settings.MinTtl < MaxNegativeTtl ? _settings.MinTtl : MaxNegativeTtl;

    public ValueTask<ResolveResult> ResolveAsync(string host, AddressFamilyFilter family, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);

        var name = Unbracket(host);
        if (IPAddress.TryParse(name, out var literal))
        {
            return ValueTask.FromResult(Matches(literal, family)
                ? ResolveResult.Success([literal])
                : ResolveResult.Failure($"'{name}' is an {FamilyName(literal)} address but the upstream allows {FamilyText(family)} only"));
        }

        var key = CacheKey(name, family);
        name = key.Name.TrimEnd('.');
        if (TryResolveLocally(name, family, out var local))
        {
            return ValueTask.FromResult(local);
        }

        var entry = _cache.GetOrAdd(key, static _ => new Entry());
        Task<ResolveResult> pending;
        lock (entry.Gate)
        {
            var now = _time.GetUtcNow();
            if (entry.Good is not null)
            {
                if (now < entry.ExpiresAt)
                {
                    if (now >= entry.RefreshAt && now >= entry.RetryAt && entry.InFlight is null)
                    {
                        StartLookup(key, entry);
                    }

                    return ValueTask.FromResult(entry.Good);
                }

                if (now < entry.StaleUntil && now < entry.RetryAt)
                {
                    // A lookup just failed: answer at once instead of waiting on another.
                    Interlocked.Increment(ref _staleAnswerCount);
                    return ValueTask.FromResult(entry.GoodStale!);
                }
            }
            else if (entry.Negative is not null && now < entry.RetryAt)
            {
                return ValueTask.FromResult(entry.Negative);
            }

            pending = entry.InFlight ?? StartLookup(key, entry);
        }

        return AwaitLookupAsync(pending, ct);
    }

    /// <summary>
    /// What <see cref="ResolveAsync"/> would start from for this name now, without asking anyone: the cached
    /// answer with its age and TTL, or where the name resolves without DNS. Null when it was never looked up.
    /// </summary>
    public DnsCacheView? Inspect(string host, AddressFamilyFilter family)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        var name = Unbracket(host);
        if (IPAddress.TryParse(name, out var literal))
        {
            return new DnsCacheView(DnsAnswerState.Local, [literal], null, null);
        }

        var key = CacheKey(name, family);
        if (TryResolveLocally(key.Name.TrimEnd('.'), family, out var local))
        {
            return new DnsCacheView(DnsAnswerState.Local, local.Addresses, null, null);
        }

        if (!_cache.TryGetValue(key, out var entry))
        {
            return null;
        }

        lock (entry.Gate)
        {
            var now = _time.GetUtcNow();
            if (entry.Good is not null)
            {
                var state = now < entry.ExpiresAt ? DnsAnswerState.Fresh : now < entry.StaleUntil ? DnsAnswerState.Stale : DnsAnswerState.Expired;
                return new DnsCacheView(state, entry.Good.Addresses, now - entry.ResolvedAt, entry.ExpiresAt - entry.ResolvedAt);
            }

            return entry.Negative is not null
                ? new DnsCacheView(DnsAnswerState.Failed, [], null, null)
                : new DnsCacheView(DnsAnswerState.Pending, [], null, null);
        }
    }

    public void Dispose()
    {
        if (!_disposed.IsCancellationRequested)
        {
            _disposed.Cancel();
        }

        _disposed.Dispose();
    }

    private async ValueTask<ResolveResult> AwaitLookupAsync(Task<ResolveResult> pending, CancellationToken ct)
    {
        var result = await pending.WaitAsync(ct);
        if (result.Stale)
        {
            Interlocked.Increment(ref _staleAnswerCount);
        }

        return result;
    }

    /// <summary>Starts the entry's one lookup; the caller holds <see cref="Entry.Gate"/>.</summary>
    private Task<ResolveResult> StartLookup((string Name, AddressFamilyFilter Family) key, Entry entry)
    {
        // Task.Run: the lookup must not run inline under the entry's lock or on a caller's stack.
        var task = Task.Run(() => LookupAndStoreAsync(key, entry));
        entry.InFlight = task;
        return task;
    }

    private async Task<ResolveResult> LookupAndStoreAsync((string Name, AddressFamilyFilter Family) key, Entry entry)
    {
        var absolute = key.Name.EndsWith('.');
        var name = absolute ? key.Name[..^1] : key.Name;
        ResolveResult result;
        TimeSpan ttl;
        try
        {
            (result, ttl) = await LookupAsync(name, absolute, key.Family);
        }
#pragma warning disable CA1031 // Whatever goes wrong (a DnsClient surprise, disposal), InFlight must be cleared below or the name stays stuck on a faulted task.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            result = ResolveResult.Failure($"cannot resolve '{name}' ({FamilyText(key.Family)}): {ex.GetType().Name}: {ex.Message}");
            ttl = default;
        }

        string? logError = null;
        var servedStale = false;
        TimeSpan staleLeft = default;
        ResolveResult answer;
        lock (entry.Gate)
        {
            var now = _time.GetUtcNow();
            entry.InFlight = null;
            if (result.Succeeded)
            {
                entry.Good = result;
                entry.GoodStale = ResolveResult.Success(result.Addresses, stale: true);
                entry.Negative = null;
                entry.ResolvedAt = now;
                entry.RefreshAt = now + (ttl * RefreshAtFraction);
                entry.ExpiresAt = now + ttl;
                entry.StaleUntil = entry.ExpiresAt + _settings.StaleFor;
                entry.RetryAt = DateTimeOffset.MinValue;
                return result;
            }

            Interlocked.Increment(ref _failureCount);
            entry.RetryAt = now + NegativeTtl;
            if (entry.Good is not null && now < entry.StaleUntil)
            {
                answer = entry.GoodStale!;
                servedStale = true;
                staleLeft = entry.StaleUntil - now;
            }
            else
            {
                entry.Good = null;
                entry.GoodStale = null;
                entry.Negative = result;
                answer = result;
            }

            // One warning per name per interval: a dead server must not flood the log.
            if (now - entry.LastFailureLog >= FailureLogInterval)
            {
                entry.LastFailureLog = now;
                logError = result.Error;
            }
        }

        if (logError is not null)
        {
            if (servedStale)
            {
                LogServingStale(_logger, name, FamilyText(key.Family), logError, staleLeft);
            }
            else
            {
                LogLookupFailed(_logger, name, FamilyText(key.Family), logError);
            }
        }

        return answer;
    }

    private async Task<(ResolveResult Result, TimeSpan Ttl)> LookupAsync(string name, bool absolute, AddressFamilyFilter family)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_disposedToken);
        deadline.CancelAfter(_settings.Timeout);
        var token = deadline.Token;

        string? error = null;
        if (_dns is not null)
        {
            foreach (var candidate in _resolvConf.Candidates(name, absolute))
            {
                var answer = await QueryAsync(_dns, candidate, family, token);
                if (answer.Addresses.Count > 0)
                {
                    return (ResolveResult.Success(answer.Addresses), Clamp(answer.Ttl));
                }

                // A transport error explains more than a later candidate's NXDOMAIN.
                if (error is null || answer.TransportError)
                {
                    error = answer.Error;
                }

                if (token.IsCancellationRequested)
                {
                    break;
                }
            }
        }
        else
        {
            error = "no name server configured";
        }

        if (_systemFallback && !token.IsCancellationRequested)
        {
            try
            {
                var addresses = await System.Net.Dns.GetHostAddressesAsync(name, ToAddressFamily(family), token);
                var kept = Order(addresses.Where(a => Matches(a, family)));
                if (kept.Count > 0)
                {
                    return (ResolveResult.Success(kept), _settings.MinTtl);
                }
            }
            catch (SocketException ex)
            {
                error ??= ex.Message;
            }
            catch (OperationCanceledException)
            {
                // Reported as the timeout below.
            }
        }

        if (deadline.IsCancellationRequested && !_disposedToken.IsCancellationRequested)
        {
            error = $"lookup timed out after {_settings.Timeout.TotalSeconds:0.###}s" + (error is null ? "" : $" ({error})");
        }

        return (ResolveResult.Failure($"cannot resolve '{name}' ({FamilyText(family)}): {error ?? "no address"}"), default);
    }

    private async Task<Answer> QueryAsync(LookupClient dns, string candidate, AddressFamilyFilter family, CancellationToken ct)
    {
        switch (family)
        {
            case AddressFamilyFilter.V4:
                return await QueryOneAsync(dns, candidate, QueryType.A, ct);
            case AddressFamilyFilter.V6:
                return await QueryOneAsync(dns, candidate, QueryType.AAAA, ct);
            default:
                var a = QueryOneAsync(dns, candidate, QueryType.A, ct);
                var aaaa = QueryOneAsync(dns, candidate, QueryType.AAAA, ct);
                var (v4, v6) = (await a, await aaaa);

                // IPv4 first: the common case for proxies and backends, and it avoids stalls on hosts
                // whose IPv6 route is advertised but broken; fail-over still reaches IPv6.
                if (v4.Addresses.Count + v6.Addresses.Count == 0)
                {
                    return v4.TransportError || !v6.TransportError ? v4 : v6;
                }

                var ttl = v4.Addresses.Count == 0 ? v6.Ttl : v6.Addresses.Count == 0 ? v4.Ttl : Min(v4.Ttl, v6.Ttl);
                return new Answer([.. v4.Addresses, .. v6.Addresses], ttl, null, false);
        }
    }

    private async Task<Answer> QueryOneAsync(LookupClient dns, string candidate, QueryType type, CancellationToken ct)
    {
        Interlocked.Increment(ref _lookupCount);
        try
        {
            var response = await dns.QueryAsync(candidate, type, QueryClass.IN, ct);
            if (response.HasError)
            {
                return new Answer([], default, $"{response.ErrorMessage} for {candidate} {type}", TransportError: false);
            }

            var addresses = new List<IPAddress>();
            var ttl = TimeSpan.MaxValue;
            foreach (var record in response.Answers)
            {
                // CNAME chains arrive as CNAME records followed by the target's addresses.
                IPAddress? address = record switch
                {
                    ARecord r when type == QueryType.A => r.Address,
                    AaaaRecord r when type == QueryType.AAAA => r.Address,
                    _ => null,
                };
                if (address is not null && !addresses.Contains(address))
                {
                    addresses.Add(address);
                    ttl = Min(ttl, TimeSpan.FromSeconds(Math.Max(0, record.TimeToLive)));
                }
            }

            return addresses.Count > 0
                ? new Answer(addresses, ttl, null, false)
                : new Answer([], default, $"no {type} record for {candidate}", TransportError: false);
        }
        catch (DnsResponseException ex)
        {
            return new Answer([], default, ex.Message, TransportError: true);
        }
        catch (SocketException ex)
        {
            return new Answer([], default, ex.Message, TransportError: true);
        }
        catch (OperationCanceledException)
        {
            return new Answer([], default, $"no answer for {candidate} {type}", TransportError: true);
        }
        catch (ArgumentException ex)
        {
            // DnsClient rejects names that are not valid DNS names (bad labels, too long).
            return new Answer([], default, $"invalid DNS name '{candidate}': {ex.Message}", TransportError: false);
        }
    }

    private bool TryResolveLocally(string name, AddressFamilyFilter family, out ResolveResult result)
    {
        if (Hosts().TryGet(name, out var fromHosts))
        {
            var kept = Order(fromHosts.Where(a => Matches(a, family)));
            if (kept.Count > 0)
            {
                result = ResolveResult.Success(kept);
                return true;
            }
        }

        // RFC 6761: localhost names are loopback, whatever DNS says.
        if (name == "localhost" || name.EndsWith(".localhost", StringComparison.Ordinal))
        {
            result = ResolveResult.Success(Order(LoopbackAddresses.Where(a => Matches(a, family))));
            return true;
        }

        result = null!;
        return false;
    }

    private HostsFile Hosts()
    {
        var now = _time.GetUtcNow();
        lock (_hostsGate)
        {
            if (now - _hostsCheckedAt < HostsRecheckInterval)
            {
                return _hosts;
            }

            _hostsCheckedAt = now;
            var writeTime = File.Exists(_files.HostsPath) ? File.GetLastWriteTimeUtc(_files.HostsPath) : default;
            if (writeTime != _hostsWriteTime || ReferenceEquals(_hosts, HostsFile.Empty))
            {
                _hostsWriteTime = writeTime;
                _hosts = HostsFile.Load(_files.HostsPath);
            }

            return _hosts;
        }
    }

    private TimeSpan Clamp(TimeSpan ttl)
    {
        if (ttl > _settings.MaxTtl)
        {
            ttl = _settings.MaxTtl;
        }

        return ttl < _settings.MinTtl ? _settings.MinTtl : ttl;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static string Unbracket(string host)
    {
        var name = host.Trim();
        return name.StartsWith('[') && name.EndsWith(']') ? name[1..^1] : name;
    }

    /// <summary>The cache key of a name that is not an IP literal: lower case, a trailing dot kept as the one mark of an absolute name.</summary>
    private static (string Name, AddressFamilyFilter Family) CacheKey(string name, AddressFamilyFilter family)
    {
        var absolute = name.EndsWith('.');
        name = name.TrimEnd('.').ToLowerInvariant();
        return (absolute ? name + "." : name, family);
    }

    private static List<IPAddress> Order(IEnumerable<IPAddress> addresses) =>
        [.. addresses.Where(a => a.AddressFamily == AddressFamily.InterNetwork), .. addresses.Where(a => a.AddressFamily != AddressFamily.InterNetwork)];

    private static bool Matches(IPAddress address, AddressFamilyFilter family) => family switch
    {
        AddressFamilyFilter.V4 => address.AddressFamily == AddressFamily.InterNetwork,
        AddressFamilyFilter.V6 => address.AddressFamily == AddressFamily.InterNetworkV6,
        _ => true,
    };

    private static AddressFamily ToAddressFamily(AddressFamilyFilter family) => family switch
    {
        AddressFamilyFilter.V4 => AddressFamily.InterNetwork,
        AddressFamilyFilter.V6 => AddressFamily.InterNetworkV6,
        _ => AddressFamily.Unspecified,
    };

    private static string FamilyText(AddressFamilyFilter family) => family switch
    {
        AddressFamilyFilter.V4 => "IPv4",
        AddressFamilyFilter.V6 => "IPv6",
        _ => "IPv4/IPv6",
    };

    private static string FamilyName(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetwork ? "IPv4" : "IPv6";

    [LoggerMessage(Level = LogLevel.Warning, Message = "DNS lookup for {Host} ({Family}) failed: {Error}; serving the last good answer for up to {StaleLeft}")]
    private static partial void LogServingStale(ILogger logger, string host, string family, string error, TimeSpan staleLeft);

    [LoggerMessage(Level = LogLevel.Warning, Message = "DNS lookup for {Host} ({Family}) failed and no earlier answer is usable: {Error}")]
    private static partial void LogLookupFailed(ILogger logger, string host, string family, string error);

    private readonly record struct Answer(IReadOnlyList<IPAddress> Addresses, TimeSpan Ttl, string? Error, bool TransportError);

    private sealed class Entry
    {
        public readonly Lock Gate = new();
        public ResolveResult? Good;
        public ResolveResult? GoodStale;
        public ResolveResult? Negative;
        public DateTimeOffset ResolvedAt;
        public DateTimeOffset RefreshAt;
        public DateTimeOffset ExpiresAt;
        public DateTimeOffset StaleUntil;
        public DateTimeOffset RetryAt = DateTimeOffset.MinValue;
        public DateTimeOffset LastFailureLog = DateTimeOffset.MinValue;
        public Task<ResolveResult>? InFlight;
    }
}

/// <summary>Where a name's answer stands in the resolver right now.</summary>
internal enum DnsAnswerState
{
    /// <summary>Within its TTL.</summary>
    Fresh,

    /// <summary>Past its TTL; refreshing failed, so it is still served for up to <c>resolver.stale_for</c>.</summary>
    Stale,

    /// <summary>Past its TTL and its stale window: the next use asks DNS again.</summary>
    Expired,

    /// <summary>The last lookup failed and no earlier answer is usable.</summary>
    Failed,

    /// <summary>The first lookup is still under way.</summary>
    Pending,

    /// <summary>An IP literal, a hosts-file name or a localhost name: no DNS, no TTL.</summary>
    Local,
}

/// <param name="Age">How long ago the answer was received; null for answers that did not come from DNS.</param>
/// <param name="Ttl">The lifetime it was given (the record TTL clamped to [min_ttl, max_ttl]); null likewise.</param>
internal sealed record DnsCacheView(DnsAnswerState State, IReadOnlyList<IPAddress> Addresses, TimeSpan? Age, TimeSpan? Ttl);
