using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Dns;

/// <summary>One DNS answer: the addresses and their smallest TTL, or why there are none.</summary>
/// <param name="TransportError">The server did not answer (timeout, refused), as opposed to answering "no such name".</param>
internal readonly record struct DnsAnswer(IReadOnlyList<IPAddress> Addresses, TimeSpan Ttl, string? Error, bool TransportError);

/// <summary>
/// Asks the name servers, through DnsClient, for a name's A and/or AAAA records, trying resolv.conf's <c>search</c>
/// list the glibc way (<see cref="ResolvConf.Candidates"/>) even with explicit <c>resolver.nameservers</c>, so
/// Kubernetes short names keep working with an explicit server. The only code that talks to DnsClient.
/// </summary>
internal sealed class DnsLookup
{
    private readonly LookupClient _client;
    private readonly ResolvConf _resolvConf;
    private readonly ResolverCounters _counters;

    public DnsLookup(IReadOnlyList<IPEndPoint> servers, TimeSpan timeout, ResolvConf resolvConf, ResolverCounters counters)
    {
        _resolvConf = resolvConf;
        _counters = counters;
        _client = new LookupClient(new LookupClientOptions([.. servers])
        {
            // We cache ourselves, with TTL clamping, stale serving and single flight.
            UseCache = false,
            Timeout = timeout,
            Retries = 1,
            ThrowDnsErrors = false,
            ContinueOnDnsError = true,
            UseRandomNameServer = false,
            EnableAuditTrail = false,
        });
    }

    /// <summary>
    /// The first search candidate that has addresses, or the most telling error. A name from the environment
    /// (<paramref name="hidden"/>) is never put in an error: DnsClient's own messages quote it, so only their
    /// kind is kept.
    /// </summary>
    public async Task<DnsAnswer> QueryAsync(string name, bool absolute, AddressFamilyFilter family, bool hidden, CancellationToken ct)
    {
        DnsAnswer? failure = null;
        foreach (var candidate in _resolvConf.Candidates(name, absolute))
        {
            var shown = hidden ? "(hidden)" + candidate[name.Length..] : candidate;
            var answer = await QueryFamiliesAsync(candidate, shown, family, hidden, ct);
            if (answer.Addresses.Count > 0)
            {
                return answer;
            }

            // A transport error explains more than a later candidate's NXDOMAIN.
            if (failure is null || answer.TransportError)
            {
                failure = answer;
            }

            if (ct.IsCancellationRequested)
            {
                break;
            }
        }

        return failure ?? new DnsAnswer([], default, "no candidate name", false);
    }

    private async Task<DnsAnswer> QueryFamiliesAsync(string candidate, string shown, AddressFamilyFilter family, bool hidden, CancellationToken ct)
    {
        switch (family)
        {
            case AddressFamilyFilter.V4:
                return await QueryOneAsync(candidate, shown, QueryType.A, hidden, ct);
            case AddressFamilyFilter.V6:
                return await QueryOneAsync(candidate, shown, QueryType.AAAA, hidden, ct);
            default:
                var a = QueryOneAsync(candidate, shown, QueryType.A, hidden, ct);
                var aaaa = QueryOneAsync(candidate, shown, QueryType.AAAA, hidden, ct);
                var (v4, v6) = (await a, await aaaa);

                // IPv4 first (see AddressFamilies.Keep).
                if (v4.Addresses.Count + v6.Addresses.Count == 0)
                {
                    return v4.TransportError || !v6.TransportError ? v4 : v6;
                }

                var ttl = v4.Addresses.Count == 0 ? v6.Ttl : v6.Addresses.Count == 0 ? v4.Ttl : Min(v4.Ttl, v6.Ttl);
                return new DnsAnswer([.. v4.Addresses, .. v6.Addresses], ttl, null, false);
        }
    }

    private async Task<DnsAnswer> QueryOneAsync(string candidate, string shown, QueryType type, bool hidden, CancellationToken ct)
    {
        _counters.OnQuestion();
        try
        {
            var response = await _client.QueryAsync(candidate, type, QueryClass.IN, ct);
            if (response.HasError)
            {
                return new DnsAnswer([], default, $"{response.ErrorMessage} for {shown} {type}", TransportError: false);
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
                    // The TTL as the server sent it: DnsClient's TimeToLive counts down from the moment the record
                    // was parsed, so a lookup whose continuation ran a second late cached 299 s for a 300 s record.
                    ttl = Min(ttl, TimeSpan.FromSeconds(Math.Max(0, record.InitialTimeToLive)));
                }
            }

            return addresses.Count > 0
                ? new DnsAnswer(addresses, ttl, null, false)
                : new DnsAnswer([], default, $"no {type} record for {shown}", TransportError: false);
        }
        catch (DnsResponseException ex)
        {
            return new DnsAnswer([], default, hidden ? $"{ex.Code} for {shown} {type}" : ex.Message, TransportError: true);
        }
        catch (SocketException ex)
        {
            return new DnsAnswer([], default, ex.Message, TransportError: true);
        }
        catch (OperationCanceledException)
        {
            return new DnsAnswer([], default, $"no answer for {shown} {type}", TransportError: true);
        }
        catch (ArgumentException ex)
        {
            // DnsClient rejects names that are not valid DNS names (bad labels, too long).
            return new DnsAnswer([], default, hidden ? $"invalid DNS name {shown}" : $"invalid DNS name '{candidate}': {ex.Message}", TransportError: false);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
