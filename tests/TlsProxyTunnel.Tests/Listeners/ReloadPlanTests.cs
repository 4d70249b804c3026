using TlsProxyTunnel.Listeners;
using TlsProxyTunnel.Tests.Configuration;

namespace TlsProxyTunnel.Tests.Listeners;

public sealed class ReloadPlanTests
{
    [Fact]
    public void An_address_that_stays_is_kept_even_when_it_moves_to_another_server_and_one_no_longer_listed_is_removed()
    {
        var next = ConfigTestHelpers.LoadOk("""
            version: 2
            servers:
              a:
                listen: ["127.0.0.1:8001", "127.0.0.1:0"]
                default: echo
              b:
                listen: ["127.0.0.1:8002", "127.0.0.1:0"]
                default: echo
            """);

        // Bound now: 8001 (a), 8003 (gone), 8002 (was a's, now b's), a's and c's port-0 listeners.
        var plan = ReloadPlan.Of(["127.0.0.1:8001", "127.0.0.1:8003", "127.0.0.1:8002", "a/127.0.0.1:0", "c/127.0.0.1:0"], next);

        Assert.Equal(
            new Dictionary<string, string> { ["127.0.0.1:8001"] = "a", ["127.0.0.1:8002"] = "b", ["a/127.0.0.1:0"] = "a" },
            plan.Kept.OrderBy(p => p.Key, StringComparer.Ordinal).ToDictionary());

        // A port-0 listener belongs to its server: c's goes with c, b's is new (the binder adds it).
        Assert.Equal(["127.0.0.1:8003", "c/127.0.0.1:0"], plan.Removed);
    }
}
