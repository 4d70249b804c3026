using System.Globalization;
using static TlsProxyTunnel.Tests.Packaging.YamlNodes;

namespace TlsProxyTunnel.Tests.Packaging;

/// <summary>
/// What the gateway overlay (deploy/kubernetes/gateway) promises, on its rendered objects: the load balancer
/// reaches the TLS listener with the client's address kept, the autoscaler and the disruption budget act on
/// this Deployment's pods, the pods spread over nodes, and a rolling update never lowers the capacity.
/// </summary>
public sealed class KubernetesGatewayTests
{
    private static RenderedOverlay Gateway => RenderedOverlay.Of("gateway");

    private static YamlDotNet.RepresentationModel.YamlMappingNode LoadBalancer =>
        Assert.Single(Gateway.OfKind("Service"), s => Has(Map(s, "spec"), "type") && Text(Map(s, "spec"), "type") == "LoadBalancer");

    [Fact]
    public void The_load_balancer_keeps_client_addresses_and_reaches_only_the_TLS_router()
    {
        var spec = Map(LoadBalancer, "spec");
        Assert.Equal("Local", Text(spec, "externalTrafficPolicy"));
        var routerPorts = Gateway.Config.Servers.Where(s => s.Tls && !RenderedOverlay.IsProbeOnly(s)).SelectMany(s => s.Listen)
            .Where(l => !System.Net.IPAddress.IsLoopback(l.EndPoint.Address))
            .Select(l => l.EndPoint.Port)
            .ToHashSet();
        Assert.NotEmpty(routerPorts);
        var ports = Items(spec, "ports").ToList();
        Assert.NotEmpty(ports);
        // Probes and metrics stay off the public address.
        Assert.All(ports, p => Assert.Contains(RenderedOverlay.ResolvePort(Gateway.Tpt, Text(p, "targetPort")), routerPorts));
        Assert.All(ports, p => Assert.Equal("TCP", Text(p, "protocol")));
    }

    [Fact]
    public void The_autoscaler_scales_this_Deployment_on_CPU_and_owns_its_replica_count()
    {
        var hpa = Gateway.Single("HorizontalPodAutoscaler");
        Assert.Equal("autoscaling/v2", Text(hpa, "apiVersion"));
        var spec = Map(hpa, "spec");
        var target = Map(spec, "scaleTargetRef");
        Assert.Equal(Text(Gateway.Deployment, "apiVersion"), Text(target, "apiVersion"));
        Assert.Equal("Deployment", Text(target, "kind"));
        Assert.Equal(Text(Map(Gateway.Deployment, "metadata"), "name"), Text(target, "name"));
        var metric = Assert.Single(Items(spec, "metrics"));
        Assert.Equal("Resource", Text(metric, "type"));
        Assert.Equal("cpu", Text(Map(metric, "resource"), "name"));
        Assert.Equal("Utilization", Text(Map(Map(metric, "resource"), "target"), "type"));
        // Utilization is a share of the request: without one the HPA has nothing to divide by.
        Assert.True(Has(Map(Map(Gateway.Tpt, "resources"), "requests"), "cpu"));
        var min = Int(spec, "minReplicas");
        Assert.True(min >= 2 && min <= Int(spec, "maxReplicas"), $"minReplicas {min}: one pod is no gateway to spread over nodes");
        // A replicas field would put the count back on every kubectl apply, fighting the autoscaler.
        Assert.False(Has(Map(Gateway.Deployment, "spec"), "replicas"), "the Deployment sets replicas, which the HPA owns");
    }

    [Fact]
    public void The_disruption_budget_selects_exactly_the_gateway_pods_and_lets_one_go_at_a_time()
    {
        var pdb = Gateway.Single("PodDisruptionBudget");
        Assert.Equal("policy/v1", Text(pdb, "apiVersion"));
        var spec = Map(pdb, "spec");
        Assert.Equal(Labels(Map(Gateway.Deployment, "spec"), "selector", "matchLabels"), Labels(spec, "selector", "matchLabels"));
        Assert.True(RenderedOverlay.Selects(Labels(spec, "selector", "matchLabels"), Gateway.PodLabels));
        // maxUnavailable, not minAvailable: the autoscaler changes the count.
        Assert.Equal(1, Int(spec, "maxUnavailable"));
    }

    [Fact]
    public void The_pods_spread_over_nodes()
    {
        var constraints = Items(Gateway.PodSpec, "topologySpreadConstraints").ToList();
        var byNode = Assert.Single(constraints, c => Text(c, "topologyKey") == "kubernetes.io/hostname");
        Assert.Equal("DoNotSchedule", Text(byNode, "whenUnsatisfiable"));
        Assert.Equal(1, Int(byNode, "maxSkew"));
        foreach (var constraint in constraints)
        {
            // Counting other pods (the sidecar example's) would skew the spread; counting none would not spread.
            Assert.Equal(Labels(Map(Gateway.Deployment, "spec"), "selector", "matchLabels"), Labels(constraint, "labelSelector", "matchLabels"));
        }
    }

    [Fact]
    public void A_rolling_update_adds_a_pod_before_it_removes_one_and_lets_it_drain()
    {
        var spec = Map(Gateway.Deployment, "spec");
        var rolling = Map(Map(spec, "strategy"), "rollingUpdate");
        Assert.Equal("RollingUpdate", Text(Map(spec, "strategy"), "type"));
        Assert.Equal("0", Text(rolling, "maxUnavailable"));
        Assert.NotEqual("0", Text(rolling, "maxSurge"));

        // The pause before SIGTERM lets the load balancer stop sending to the pod while it still accepts;
        // it is a sleep action because the image has no shell to exec one in.
        var sleep = Map(Map(Map(Gateway.Tpt, "lifecycle"), "preStop"), "sleep");
        Assert.True(Int(sleep, "seconds") > 0);
        var grace = Int(Gateway.PodSpec, "terminationGracePeriodSeconds");
        Assert.True(Int(sleep, "seconds") + Gateway.Config.ShutdownTimeout.TotalSeconds < grace);
        var patch = File.ReadAllText(Path.Combine(RenderedOverlay.KubernetesDirectory, "gateway", "deployment-patch.yaml"));
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"preStop pause ({Int(sleep, "seconds")} s)"), patch, StringComparison.Ordinal);
    }

    [Fact]
    public void The_router_memory_bound_by_maxclients_fits_the_memory_limit()
    {
        // configmap.yaml's sizing: up to two 64 KiB relay buffers for each connection moving data both ways,
        // about 7 KiB for each idle one (docs/benchmarks.md), and ~18 MiB for the process itself.
        var router = Assert.Single(Gateway.Config.Servers, s => !RenderedOverlay.IsProbeOnly(s));
        var worstCase = 18L * 1024 * 1024 + router.MaxClients * (2L * TlsProxyTunnel.Relay.DuplexRelay.BufferSize + 7 * 1024);
        var limit = Text(Map(Map(Gateway.Tpt, "resources"), "limits"), "memory");
        Assert.EndsWith("Mi", limit, StringComparison.Ordinal);
        var limitBytes = long.Parse(limit[..^2], CultureInfo.InvariantCulture) * 1024 * 1024;
        Assert.True(worstCase < limitBytes, $"maxclients {router.MaxClients} can need {worstCase >> 20} MiB, over the {limit} limit");
    }
}
