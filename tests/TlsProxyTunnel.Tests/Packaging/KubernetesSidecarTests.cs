using static TlsProxyTunnel.Tests.Packaging.YamlNodes;

namespace TlsProxyTunnel.Tests.Packaging;

/// <summary>What only the sidecar overlay (deploy/kubernetes/sidecar) promises, on its rendered objects.</summary>
public sealed class KubernetesSidecarTests
{
    private static RenderedOverlay Sidecar => RenderedOverlay.Of("sidecar");

    [Fact]
    public void Tpt_is_a_native_sidecar_beside_the_application()
    {
        // ../base declares tpt as the pod's container; the overlay's JSON patch moves it.
        var tpt = Assert.Single(Items(Sidecar.PodSpec, "initContainers"));
        Assert.Same(Sidecar.Tpt, tpt);
        Assert.Equal("Always", Text(tpt, "restartPolicy"));
        Assert.True(Has(tpt, "startupProbe"), "the application starts only once the sidecar's startupProbe passes");
        var app = Assert.Single(Items(Sidecar.PodSpec, "containers"));
        Assert.Equal("app", Text(app, "name"));
    }

    [Fact]
    public void The_TLS_listener_is_for_the_pod_alone()
    {
        var router = Sidecar.Config.Servers.Where(s => !RenderedOverlay.IsProbeOnly(s)).SelectMany(s => s.Listen).ToList();
        Assert.NotEmpty(router);
        Assert.All(router, l => Assert.True(System.Net.IPAddress.IsLoopback(l.EndPoint.Address), $"{l} is reachable from outside the pod"));
    }

    [Fact]
    public void The_proxy_credentials_reach_the_CONNECT_headers_from_the_Secret()
    {
        var env = Assert.Single(Items(Sidecar.Tpt, "env"), e => Text(e, "name") == "PROXY_AUTH");
        var reference = Map(Map(env, "valueFrom"), "secretKeyRef");
        var secret = Sidecar.Named("Secret", Text(reference, "name"));
        var expected = RenderedOverlay.SecretValue(secret, Text(reference, "key"));
        // So the Secret's key, the variable's name and the config's ${PROXY_AUTH} line up.
        Assert.Contains(Sidecar.Config.Servers.SelectMany(s => s.Sni).SelectMany(r => r.Via?.Headers ?? []), h => h.Value == expected && h.Sensitive);
    }
}
