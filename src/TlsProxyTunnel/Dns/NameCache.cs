using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Dns;

/// <summary>
/// Answers names from memory (<see cref="CachedName"/> decides what is fresh, stale or failed) and runs one lookup
/// per (name, family) at a time, shared by every caller that needs it: a cold name under load asks DNS once.
/// Cache ages use the injected <see cref="TimeProvider"/>.
/// </summary>
/// <remarks>Keyed by configured names only (never client input), so it is not size-bounded.</remarks>
internal sealed partial class NameCache(NameLookup lookup, ResolverSettings settings, TimeProvider time, ResolverCounters counters, ILogger logger)
{
    private static readonly TimeSpan MaxNegativeTtl = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<(string Name, AddressFamilyFilter Family), CachedName> _names = new();

    /// <summary>min(min_ttl, 5 s): how long a failure is the answer before a new lookup is tried.</summary>
    private TimeSpan NegativeTtl => settings.MinTtl < MaxNegativeTtl ? settings.MinTtl : MaxNegativeTtl;

    /// <param name="name">Lower case; a trailing dot (absolute name) kept, since it changes which names are asked.</param>
    public ValueTask<ResolveResult> ResolveAsync(string name, AddressFamilyFilter family, HostToResolve host, CancellationToken ct)
    {
        var key = (name, family);
        if (!_names.TryGetValue(key, out var entry))
        {
            entry = _names.GetOrAdd(key, static (_, host) => new CachedName(host), host);
        }

        Task<ResolveResult> pending;
        lock (entry.Gate)
        {
            if (entry.Answer(time.GetUtcNow(), out var refresh) is { } answer)
            {
                if (refresh && entry.InFlight is null)
                {
                    StartLookup(key, entry);
                }

                if (answer.Stale)
                {
                    counters.OnStaleAnswer();
                }

                return ValueTask.FromResult(answer);
            }

            pending = entry.InFlight ?? StartLookup(key, entry);
        }

        return AwaitLookupAsync(pending, ct);
    }

    /// <summary>Where the cached answer for (name, family) stands now; null when the name was never looked up.</summary>
    public DnsCacheView? Inspect(string name, AddressFamilyFilter family)
    {
        if (!_names.TryGetValue((name, family), out var entry))
        {
            return null;
        }

        lock (entry.Gate)
        {
            return entry.View(time.GetUtcNow());
        }
    }

    private async ValueTask<ResolveResult> AwaitLookupAsync(Task<ResolveResult> pending, CancellationToken ct)
    {
        var result = await pending.WaitAsync(ct);
        if (result.Stale)
        {
            counters.OnStaleAnswer();
        }

        return result;
    }

    /// <summary>Starts the entry's one lookup; the caller holds <see cref="CachedName.Gate"/>.</summary>
    private Task<ResolveResult> StartLookup((string Name, AddressFamilyFilter Family) key, CachedName entry)
    {
        // Task.Run: the lookup must not run inline under the entry's lock or on a caller's stack.
        var task = Task.Run(() => LookupAndStoreAsync(key, entry));
        entry.InFlight = task;
        return task;
    }

    private async Task<ResolveResult> LookupAndStoreAsync((string Name, AddressFamilyFilter Family) key, CachedName entry)
    {
        var absolute = key.Name.EndsWith('.');
        var name = absolute ? key.Name[..^1] : key.Name;
        ResolveResult result;
        TimeSpan ttl;
        try
        {
            (result, ttl) = await lookup.LookupAsync(name, absolute, key.Family, entry.Host);
        }
#pragma warning disable CA1031 // Whatever goes wrong (a DnsClient surprise, disposal), InFlight must be cleared below or the name stays stuck on a faulted task.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            // The type only: a message may quote the name, which may have come from the environment.
            result = ResolveResult.Failure(NameLookup.CannotResolve(entry.Host, key.Family, ex.GetType().Name));
            ttl = default;
        }

        ResolveResult answer;
        bool log;
        TimeSpan staleLeft;
        lock (entry.Gate)
        {
            var now = time.GetUtcNow();
            entry.InFlight = null;
            if (result.Succeeded)
            {
                entry.Succeeded(result, ttl, settings.StaleFor, now);
                return result;
            }

            counters.OnFailure();
            answer = entry.Failed(result, NegativeTtl, now, out staleLeft, out log);
        }

        if (log)
        {
            var family = AddressFamilies.Text(key.Family);
            if (answer.Stale)
            {
                LogServingStale(logger, entry.Host.Display, family, result.Error!, staleLeft);
            }
            else
            {
                LogLookupFailed(logger, entry.Host.Display, family, result.Error!);
            }
        }

        return answer;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "DNS lookup for {Host} ({Family}) failed: {Error}; serving the last good answer for up to {StaleLeft}")]
    private static partial void LogServingStale(ILogger logger, string host, string family, string error, TimeSpan staleLeft);

    [LoggerMessage(Level = LogLevel.Warning, Message = "DNS lookup for {Host} ({Family}) failed and no earlier answer is usable: {Error}")]
    private static partial void LogLookupFailed(ILogger logger, string host, string family, string error);
}
