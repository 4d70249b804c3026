using TlsProxyTunnel.Configuration;
using YamlDotNet.RepresentationModel;
using static TlsProxyTunnel.Tests.Packaging.YamlNodes;

namespace TlsProxyTunnel.Tests.Packaging;

/// <summary>
/// The Kubernetes examples (deploy/kubernetes: a shared base, the sidecar and gateway overlays), rendered as
/// <c>kubectl apply -k</c> would send them, must agree with each other and with the tpt configuration they
/// carry: a selector that matches no pod, a probe on the wrong port or a missing Secret key only shows up in
/// a cluster, and tls-proxy-tunnel's own manifests had exactly these mistakes.
/// </summary>
public sealed class KubernetesManifestTests
{
    public static TheoryData<string> Overlays => new("sidecar", "gateway");

    public static TheoryData<string> Kustomizations => new("base", "sidecar", "gateway");

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Each_kustomization_uses_every_manifest_beside_it_and_only_existing_ones(string name)
    {
        var directory = Path.Combine(RenderedOverlay.KubernetesDirectory, name);
        var kustomization = Kustomization(name);
        var resources = Strings(kustomization, "resources").ToList();
        var patches = Items(kustomization, "patches").Select(p => Text(p, "path")).ToList();
        foreach (var reference in resources.Concat(patches))
        {
            var full = Path.Combine(directory, reference);
            Assert.True(File.Exists(full) || System.IO.Directory.Exists(full), $"{name}/kustomization.yaml names {reference}, which does not exist");
        }

        var local = resources.Concat(patches).Where(r => !r.Contains('/', StringComparison.Ordinal));
        var files = System.IO.Directory.EnumerateFiles(directory, "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml");
        Assert.Equal(files.Order(StringComparer.Ordinal), local.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_image_is_set_in_the_base_with_the_keys_the_README_tells_users_to_set()
    {
        var readme = File.ReadAllText(Path.Combine(Repository.Root, "README.md"));
        var image = Seq(Kustomization("base"), "images").Cast<YamlMappingNode>()
            .Single(i => Text(i, "name") == RenderedOverlay.ImageName(Text(TptOfBase(), "image")));
        foreach (var key in (string[])["newName", "newTag"])
        {
            Assert.Contains($"`{key}`", readme, StringComparison.Ordinal);
            Assert.True(Has(image, key), $"base/kustomization.yaml's tpt image has no '{key}' for the README's step to edit");
        }

        // One place to set it: an overlay's own images: entry would shadow the base's for that overlay alone.
        Assert.False(Has(Kustomization("sidecar"), "images"), "the sidecar overlay sets its own image");
        Assert.False(Has(Kustomization("gateway"), "images"), "the gateway overlay sets its own image");
        Assert.Equal($"{Text(image, "newName")}:{Text(image, "newTag")}", Text(RenderedOverlay.Of("sidecar").Tpt, "image"));
        Assert.Equal($"{Text(image, "newName")}:{Text(image, "newTag")}", Text(RenderedOverlay.Of("gateway").Tpt, "image"));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_README_applies_each_overlay_by_its_path(string overlay)
    {
        var readme = File.ReadAllText(Path.Combine(Repository.Root, "README.md"));
        Assert.Contains($"kubectl apply -k deploy/kubernetes/{overlay}", readme, StringComparison.Ordinal);
        Assert.Contains($"kubectl apply -k deploy/kubernetes/{overlay}", File.ReadAllText(Path.Combine(RenderedOverlay.KubernetesDirectory, overlay, "kustomization.yaml")), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Tpt_runs_with_watch_so_an_edited_ConfigMap_reaches_it(string overlay)
    {
        var rendered = RenderedOverlay.Of(overlay);
        // The ConfigMap's comment promises that a change is reloaded: that needs --watch (SIGHUP is the only
        // other trigger, and nothing in a pod sends it).
        Assert.Contains("--watch", File.ReadAllText(Path.Combine(RenderedOverlay.KubernetesDirectory, overlay, "configmap.yaml")), StringComparison.Ordinal);
        Assert.Equal(["--watch"], Strings(rendered.Tpt, "args"));
        Assert.False(Has(rendered.Tpt, "command"), "a command would replace the image's entry point, /app/tpt");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_deployment_selector_matches_its_pod_template_labels(string overlay)
    {
        var rendered = RenderedOverlay.Of(overlay);
        var selector = Labels(Map(rendered.Deployment, "spec"), "selector", "matchLabels");
        Assert.True(RenderedOverlay.Selects(selector, rendered.PodLabels), $"{overlay}: the Deployment's selector does not match its own pods");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_service_selects_the_pods_and_targets_a_listen_port_of_the_embedded_config(string overlay)
    {
        var rendered = RenderedOverlay.Of(overlay);
        var reachable = rendered.Config.Servers.SelectMany(s => s.Listen)
            .Where(l => !System.Net.IPAddress.IsLoopback(l.EndPoint.Address))
            .Select(l => l.EndPoint.Port)
            .ToHashSet();
        foreach (var service in rendered.OfKind("Service"))
        {
            var name = Text(Map(service, "metadata"), "name");
            Assert.True(RenderedOverlay.Selects(Labels(Map(service, "spec"), "selector"), rendered.PodLabels), $"{overlay}: Service {name} selects no pod");
            foreach (var port in Items(Map(service, "spec"), "ports"))
            {
                var target = RenderedOverlay.ResolvePort(rendered.Tpt, Text(port, "targetPort"));
                Assert.True(reachable.Contains(target), $"{overlay}: Service {name} sends to port {target}, where tpt does not listen on a pod address");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_metrics_service_is_annotated_for_scraping_the_health_server(string overlay)
    {
        var rendered = RenderedOverlay.Of(overlay);
        var scraped = rendered.OfKind("Service")
            .Where(s => Has(Map(s, "metadata"), "annotations") && Labels(Map(s, "metadata"), "annotations").ContainsKey("prometheus.io/scrape"))
            .ToList();
        var service = Assert.Single(scraped);
        var annotations = Labels(Map(service, "metadata"), "annotations");
        Assert.Equal("true", annotations["prometheus.io/scrape"]);
        Assert.Equal("/metrics", annotations["prometheus.io/path"]);
        var port = int.Parse(annotations["prometheus.io/port"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains(port, rendered.HealthPorts);
        Assert.All(Items(Map(service, "spec"), "ports"), p => Assert.Contains(RenderedOverlay.ResolvePort(rendered.Tpt, Text(p, "targetPort")), rendered.HealthPorts));
        Assert.Equal("ClusterIP", Has(Map(service, "spec"), "type") ? Text(Map(service, "spec"), "type") : "ClusterIP");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Referenced_ConfigMaps_and_Secrets_exist_with_the_referenced_keys(string overlay)
    {
        var rendered = RenderedOverlay.Of(overlay);
        var configReferences = 0;
        foreach (var volume in Items(rendered.PodSpec, "volumes").Where(v => Has(v, "configMap")))
        {
            var configMap = Map(volume, "configMap");
            var data = RenderedOverlay.Keys(rendered.Named("ConfigMap", Text(configMap, "name")));
            foreach (var item in Items(configMap, "items"))
            {
                Assert.Contains(Text(item, "key"), data);
                configReferences++;
            }
        }

        foreach (var env in rendered.Containers.SelectMany(c => Items(c, "env")).Where(e => Has(e, "valueFrom")))
        {
            var from = Map(env, "valueFrom");
            foreach (var (kind, key) in (ReadOnlySpan<(string, string)>)[("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")])
            {
                if (Has(from, key))
                {
                    var reference = Map(from, key);
                    Assert.Contains(Text(reference, "key"), RenderedOverlay.Keys(rendered.Named(kind, Text(reference, "name"))));
                }
            }
        }

        Assert.True(configReferences >= 1, $"{overlay}: the tpt config volume names no ConfigMap key");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_config_is_mounted_where_tpt_looks_without_arguments(string overlay)
    {
        var rendered = RenderedOverlay.Of(overlay);
        var args = Has(rendered.Tpt, "args") ? Strings(rendered.Tpt, "args").ToList() : [];
        Assert.True(!args.Any(a => a is "-c" || a.StartsWith("--config", StringComparison.Ordinal)), "tpt should find /etc/tpt/config.yaml by itself");
        var volumes = Items(rendered.PodSpec, "volumes").ToList();
        var mount = Items(rendered.Tpt, "volumeMounts").Single(m => volumes.Any(v => Text(v, "name") == Text(m, "name") && Has(v, "configMap")));
        Assert.Equal("/etc/tpt", Text(mount, "mountPath"));
        var volume = volumes.Single(v => Text(v, "name") == Text(mount, "name"));
        Assert.Contains(Items(Map(volume, "configMap"), "items"), i => Text(i, "path") == "config.yaml");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Probes_hit_the_health_server_of_the_embedded_config(string overlay)
    {
        var rendered = RenderedOverlay.Of(overlay);
        Assert.NotEmpty(rendered.HealthPorts);
        var expectedPath = new Dictionary<string, string> { ["livenessProbe"] = "/health", ["readinessProbe"] = "/ready", ["startupProbe"] = "/ready" };
        foreach (var (kind, path) in expectedPath)
        {
            if (!Has(rendered.Tpt, kind))
            {
                Assert.True(kind == "startupProbe", $"{overlay}: the tpt container has no {kind}");
                continue;
            }

            var get = Map(Map(rendered.Tpt, kind), "httpGet");
            Assert.Contains(RenderedOverlay.ResolvePort(rendered.Tpt, Text(get, "port")), rendered.HealthPorts);
            Assert.Equal(path, Text(get, "path"));
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_tpt_container_declares_exactly_the_listen_ports_of_the_embedded_config(string overlay)
    {
        var rendered = RenderedOverlay.Of(overlay);
        var listening = rendered.Config.Servers.SelectMany(s => s.Listen).Select(l => l.EndPoint.Port).ToHashSet();
        var declared = Items(rendered.Tpt, "ports").Select(p => Int(p, "containerPort")).ToHashSet();
        Assert.Equal(listening.Order(), declared.Order());
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_tpt_container_declares_the_ports_the_image_exposes(string overlay)
    {
        // The image's own configuration (container-files) and these ConfigMaps replace each other at
        // /etc/tpt/config.yaml: they keep the same ports, so the image's EXPOSE documents both.
        var exposed = File.ReadLines(Path.Combine(Repository.Root, "Dockerfile"))
            .Where(l => l.StartsWith("EXPOSE ", StringComparison.Ordinal))
            .SelectMany(l => l["EXPOSE ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(w => int.Parse(w.Split('/')[0], System.Globalization.CultureInfo.InvariantCulture))
            .ToHashSet();
        Assert.NotEmpty(exposed);
        var declared = Items(RenderedOverlay.Of(overlay).Tpt, "ports").Select(p => Int(p, "containerPort")).ToHashSet();
        Assert.Equal(exposed.Order(), declared.Order());
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_container_is_locked_down_and_has_requests_and_limits(string overlay)
    {
        var rendered = RenderedOverlay.Of(overlay);
        var podSecurity = Map(rendered.PodSpec, "securityContext");
        Assert.Equal("RuntimeDefault", Text(Map(podSecurity, "seccompProfile"), "type"));
        foreach (var container in rendered.Containers)
        {
            var name = $"{overlay}/{Text(container, "name")}";
            var security = Map(container, "securityContext");
            Assert.True(Text(security, "readOnlyRootFilesystem") == "true", $"{name}: readOnlyRootFilesystem");
            Assert.True(Text(security, "allowPrivilegeEscalation") == "false", $"{name}: allowPrivilegeEscalation");
            Assert.Equal(["ALL"], Strings(Map(security, "capabilities"), "drop"));
            var nonRoot = Has(security, "runAsNonRoot") ? Text(security, "runAsNonRoot") : Text(podSecurity, "runAsNonRoot");
            Assert.True(nonRoot == "true", $"{name}: runAsNonRoot");
            foreach (var section in (string[])["requests", "limits"])
            {
                var resources = Map(Map(container, "resources"), section);
                Assert.True(Has(resources, "cpu") && Has(resources, "memory"), $"{name}: resources.{section} needs cpu and memory");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_drain_fits_in_the_termination_grace_period(string overlay)
    {
        var rendered = RenderedOverlay.Of(overlay);
        // Kubernetes counts the grace period from the start of the preStop hook, and sends SIGTERM after it.
        var preStop = Has(rendered.Tpt, "lifecycle") && Has(Map(rendered.Tpt, "lifecycle"), "preStop")
            ? TimeSpan.FromSeconds(Int(Map(Map(Map(rendered.Tpt, "lifecycle"), "preStop"), "sleep"), "seconds"))
            : TimeSpan.Zero;
        var grace = TimeSpan.FromSeconds(Int(rendered.PodSpec, "terminationGracePeriodSeconds"));
        Assert.True(preStop + rendered.Config.ShutdownTimeout < grace,
            $"{overlay}: preStop {preStop.TotalSeconds} s + shutdown_timeout {rendered.Config.ShutdownTimeout.TotalSeconds} s must end before the kill at {grace.TotalSeconds} s");
        // The comments that explain the numbers name them: keep them true.
        var configMap = File.ReadAllText(Path.Combine(RenderedOverlay.KubernetesDirectory, overlay, "configmap.yaml"));
        Assert.Contains($"({grace.TotalSeconds} s", configMap, StringComparison.Ordinal);
        Assert.Contains($"shutdown_timeout: {rendered.Config.ShutdownTimeout.TotalSeconds}s", configMap, StringComparison.Ordinal);
    }

    [Fact]
    public void Both_overlays_run_the_same_tpt_container_apart_from_what_the_gateway_resizes()
    {
        var sidecar = RenderedOverlay.Of("sidecar").Tpt;
        var gateway = RenderedOverlay.Of("gateway").Tpt;
        foreach (var key in (string[])["image", "args", "ports", "volumeMounts", "livenessProbe", "readinessProbe", "startupProbe", "securityContext"])
        {
            Assert.Equal(Flatten(Key(sidecar, key)), Flatten(Key(gateway, key)));
        }

        Assert.Equal(RenderedOverlay.Of("sidecar").HealthPorts.Order(), RenderedOverlay.Of("gateway").HealthPorts.Order());
    }

    [Fact]
    public void Both_overlays_can_run_in_one_namespace()
    {
        var sidecar = RenderedOverlay.Of("sidecar");
        var gateway = RenderedOverlay.Of("gateway");
        var sidecarNames = sidecar.Objects.Select(o => (Text(o, "kind"), Text(Map(o, "metadata"), "name"))).ToHashSet();
        Assert.DoesNotContain(gateway.Objects.Select(o => (Text(o, "kind"), Text(Map(o, "metadata"), "name"))), sidecarNames.Contains);

        // No selector of one reaches the other's pods (a Service would send clients to the wrong pods, a
        // PodDisruptionBudget would count them).
        foreach (var (from, to) in (ReadOnlySpan<(RenderedOverlay, RenderedOverlay)>)[(sidecar, gateway), (gateway, sidecar)])
        {
            foreach (var selector in Selectors(from))
            {
                Assert.False(RenderedOverlay.Selects(selector, to.PodLabels), $"a selector of {from.Name} selects the pods of {to.Name}");
            }
        }
    }

    private static IEnumerable<Dictionary<string, string>> Selectors(RenderedOverlay rendered) =>
        rendered.OfKind("Service").Select(s => Labels(Map(s, "spec"), "selector"))
            .Concat(rendered.OfKind("Deployment").Concat(rendered.OfKind("PodDisruptionBudget")).Select(o => Labels(Map(o, "spec"), "selector", "matchLabels")));

    private static YamlMappingNode Kustomization(string name)
    {
        using var reader = new StreamReader(Path.Combine(RenderedOverlay.KubernetesDirectory, name, "kustomization.yaml"));
        return (YamlMappingNode)LoadDocuments(reader).Single();
    }

    private static YamlMappingNode TptOfBase()
    {
        using var reader = new StreamReader(Path.Combine(RenderedOverlay.KubernetesDirectory, "base", "deployment.yaml"));
        var deployment = (YamlMappingNode)LoadDocuments(reader).Single();
        return Items(Map(Map(Map(deployment, "spec"), "template"), "spec"), "containers").Single(c => Text(c, "name") == "tpt");
    }

    private static YamlNode? Key(YamlMappingNode node, string key) => node.Children.TryGetValue(key, out var value) ? value : null;

    /// <summary>A node as sorted path=value lines, so two renderings compare key order aside.</summary>
    private static List<string> Flatten(YamlNode? node)
    {
        var lines = new List<string>();
        Walk(node, "", lines);
        lines.Sort(StringComparer.Ordinal);
        return lines;

        static void Walk(YamlNode? node, string path, List<string> lines)
        {
            switch (node)
            {
                case YamlMappingNode map:
                    foreach (var (key, value) in map.Children)
                    {
                        Walk(value, $"{path}.{((YamlScalarNode)key).Value}", lines);
                    }

                    break;
                case YamlSequenceNode seq:
                    for (var i = 0; i < seq.Children.Count; i++)
                    {
                        Walk(seq.Children[i], $"{path}[{i}]", lines);
                    }

                    break;
                case YamlScalarNode scalar:
                    lines.Add($"{path}={scalar.Value}");
                    break;
                default:
                    lines.Add($"{path}=(absent)");
                    break;
            }
        }
    }
}
