using System.Globalization;
using System.Text;
using TlsProxyTunnel.Configuration;
using YamlDotNet.RepresentationModel;

namespace TlsProxyTunnel.Tests.Packaging;

/// <summary>
/// The example manifests in deploy/kubernetes must agree with each other and with the tpt configuration
/// they carry: a selector that matches no pod, a probe on the wrong port or a missing Secret key only shows
/// up in a cluster, and tls-proxy-tunnel's own manifests had exactly these mistakes.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static readonly string Directory = Path.Combine(Repository.Root, "deploy", "kubernetes");
    private static readonly List<YamlMappingNode> Objects = LoadObjects();

    private static YamlMappingNode Deployment => Single("Deployment");

    private static YamlMappingNode PodSpec => Map(Map(Map(Deployment, "spec"), "template"), "spec");

    private static IEnumerable<YamlMappingNode> Containers =>
        Items(PodSpec, "initContainers").Concat(Items(PodSpec, "containers"));

    private static YamlMappingNode Tpt => Containers.Single(c => Text(c, "image").Contains("/tpt", StringComparison.Ordinal));

    [Fact]
    public void The_kustomization_lists_every_manifest_and_only_existing_ones()
    {
        var kustomization = (YamlMappingNode)LoadDocuments(Path.Combine(Directory, "kustomization.yaml")).Single();
        var resources = Seq(kustomization, "resources").Select(n => ((YamlScalarNode)n).Value!).ToList();
        var files = System.IO.Directory.EnumerateFiles(Directory, "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml");
        Assert.Equal(files.Order(StringComparer.Ordinal), resources.Order(StringComparer.Ordinal));
        Assert.Contains(Seq(kustomization, "images").Cast<YamlMappingNode>(), i => Text(i, "name") == ImageName(Text(Tpt, "image")));
    }

    [Fact]
    public void The_kustomization_has_the_image_keys_the_README_tells_users_to_set()
    {
        var kustomization = (YamlMappingNode)LoadDocuments(Path.Combine(Directory, "kustomization.yaml")).Single();
        var image = Seq(kustomization, "images").Cast<YamlMappingNode>().Single(i => Text(i, "name") == ImageName(Text(Tpt, "image")));
        var readme = File.ReadAllText(Path.Combine(Repository.Root, "README.md"));
        foreach (var key in (string[])["newName", "newTag"])
        {
            Assert.Contains($"`{key}`", readme, StringComparison.Ordinal);
            Assert.True(image.Children.ContainsKey(key), $"kustomization.yaml's tpt image has no '{key}' for the README's step to edit");
        }
    }

    [Fact]
    public void Tpt_runs_with_watch_so_an_edited_ConfigMap_reaches_it()
    {
        // configmap.yaml's comment promises that a changed ConfigMap is reloaded: that needs --watch (SIGHUP
        // is the only other trigger, and nothing in a pod sends it).
        Assert.Contains("--watch", File.ReadAllText(Path.Combine(Directory, "configmap.yaml")), StringComparison.Ordinal);
        Assert.Equal(["--watch"], Seq(Tpt, "args").Select(n => ((YamlScalarNode)n).Value));
        Assert.False(Tpt.Children.ContainsKey("command"), "a command would replace the image's entry point, /app/tpt");
    }

    [Fact]
    public void The_deployment_selector_matches_its_pod_template_labels()
    {
        var selector = Labels(Map(Map(Deployment, "spec"), "selector"), "matchLabels");
        var template = Labels(Map(Map(Deployment, "spec"), "template"), "metadata", "labels");
        Assert.NotEmpty(selector);
        Assert.All(selector, l => Assert.True(template.GetValueOrDefault(l.Key) == l.Value, $"selector {l.Key}={l.Value} is not a template label"));
    }

    [Fact]
    public void Every_service_selects_the_pods_and_targets_a_declared_container_port()
    {
        var template = Labels(Map(Map(Deployment, "spec"), "template"), "metadata", "labels");
        var ports = Containers.SelectMany(c => Items(c, "ports")).ToList();
        foreach (var service in Objects.Where(o => Text(o, "kind") == "Service"))
        {
            var selector = Labels(Map(service, "spec"), "selector");
            Assert.NotEmpty(selector);
            Assert.All(selector, l => Assert.True(template.GetValueOrDefault(l.Key) == l.Value, $"Service selector {l.Key}={l.Value} matches no pod label"));
            foreach (var port in Items(Map(service, "spec"), "ports"))
            {
                var target = Text(port, "targetPort");
                Assert.True(ports.Any(p => Text(p, "name") == target || Text(p, "containerPort") == target), $"Service targetPort {target} is no container port");
            }
        }
    }

    [Fact]
    public void Referenced_ConfigMaps_and_Secrets_exist_with_the_referenced_keys()
    {
        var references = 0;
        foreach (var volume in Items(PodSpec, "volumes").Where(v => v.Children.ContainsKey("configMap")))
        {
            var configMap = Map(volume, "configMap");
            var data = Keys(Named("ConfigMap", Text(configMap, "name")));
            foreach (var item in Items(configMap, "items"))
            {
                Assert.Contains(Text(item, "key"), data);
                references++;
            }
        }

        foreach (var env in Containers.SelectMany(c => Items(c, "env")).Where(e => e.Children.ContainsKey("valueFrom")))
        {
            var from = Map(env, "valueFrom");
            if (from.Children.ContainsKey("secretKeyRef"))
            {
                var reference = Map(from, "secretKeyRef");
                Assert.Contains(Text(reference, "key"), Keys(Named("Secret", Text(reference, "name"))));
                references++;
            }
        }

        Assert.True(references >= 2, "expected the config volume and the proxy credentials to be referenced");
    }

    [Fact]
    public void The_config_is_mounted_where_tpt_looks_without_arguments()
    {
        var args = Tpt.Children.ContainsKey("args") ? Seq(Tpt, "args").Select(n => ((YamlScalarNode)n).Value!).ToList() : [];
        Assert.True(!args.Any(a => a is "-c" || a.StartsWith("--config", StringComparison.Ordinal)), "tpt should find /etc/tpt/config.yaml by itself");
        var mount = Items(Tpt, "volumeMounts").Single(m => Items(PodSpec, "volumes").Any(v => Text(v, "name") == Text(m, "name") && v.Children.ContainsKey("configMap")));
        Assert.Equal("/etc/tpt", Text(mount, "mountPath"));
        var volume = Items(PodSpec, "volumes").Single(v => Text(v, "name") == Text(mount, "name"));
        Assert.Contains(Items(Map(volume, "configMap"), "items"), i => Text(i, "path") == "config.yaml");
    }

    [Fact]
    public void The_embedded_config_is_valid_with_the_environment_the_pod_gives_tpt()
    {
        var config = EmbeddedConfig();
        Assert.Contains(config.Servers, s => s.Default == "health");
        // The credentials reached the CONNECT headers (so the Secret's key and the variable name line up).
        var secret = Named("Secret", "tpt-proxy-credentials");
        var expected = Text(Map(secret, "stringData"), "proxy-authorization");
        Assert.Contains(config.Servers.SelectMany(s => s.Sni).SelectMany(r => r.Via?.Headers ?? []), h => h.Value == expected && h.Sensitive);
    }

    [Fact]
    public void Probes_hit_the_health_server_of_the_embedded_config()
    {
        var healthPorts = EmbeddedConfig().Servers.Where(s => s.Default == "health").SelectMany(s => s.Listen)
            .Where(l => !l.EndPoint.Address.Equals(System.Net.IPAddress.Loopback)).Select(l => l.EndPoint.Port).ToHashSet();
        Assert.NotEmpty(healthPorts);
        var expectedPath = new Dictionary<string, string> { ["livenessProbe"] = "/health", ["readinessProbe"] = "/ready" };
        foreach (var kind in (string[])["livenessProbe", "readinessProbe", "startupProbe"])
        {
            if (!Tpt.Children.ContainsKey(kind))
            {
                Assert.True(kind == "startupProbe", $"the tpt container has no {kind}");
                continue;
            }

            var get = Map(Map(Tpt, kind), "httpGet");
            Assert.Contains(ResolvePort(Tpt, Text(get, "port")), healthPorts);
            if (expectedPath.TryGetValue(kind, out var path))
            {
                Assert.Equal(path, Text(get, "path"));
            }
        }

        foreach (var service in Objects.Where(o => Text(o, "kind") == "Service"))
        {
            foreach (var port in Items(Map(service, "spec"), "ports"))
            {
                Assert.Contains(ResolvePort(Tpt, Text(port, "targetPort")), healthPorts);
            }

            if (Map(service, "metadata").Children.ContainsKey("annotations"))
            {
                var annotations = Labels(Map(service, "metadata"), "annotations");
                if (annotations.TryGetValue("prometheus.io/port", out var scrape))
                {
                    Assert.Contains(int.Parse(scrape, CultureInfo.InvariantCulture), healthPorts);
                }
            }
        }
    }

    [Fact]
    public void The_tpt_container_declares_exactly_the_listen_ports_of_the_embedded_config()
    {
        var listening = EmbeddedConfig().Servers.SelectMany(s => s.Listen).Select(l => l.EndPoint.Port).ToHashSet();
        var declared = Items(Tpt, "ports").Select(p => int.Parse(Text(p, "containerPort"), CultureInfo.InvariantCulture)).ToHashSet();
        Assert.Equal(listening.Order(), declared.Order());
    }

    [Fact]
    public void Every_container_is_locked_down_and_has_requests_and_limits()
    {
        var podSecurity = Map(PodSpec, "securityContext");
        foreach (var container in Containers)
        {
            var name = Text(container, "name");
            var security = Map(container, "securityContext");
            Assert.True(Text(security, "readOnlyRootFilesystem") == "true", $"{name}: readOnlyRootFilesystem");
            Assert.True(Text(security, "allowPrivilegeEscalation") == "false", $"{name}: allowPrivilegeEscalation");
            Assert.Equal(["ALL"], Seq(Map(security, "capabilities"), "drop").Select(n => ((YamlScalarNode)n).Value));
            var nonRoot = security.Children.ContainsKey("runAsNonRoot") ? Text(security, "runAsNonRoot") : Text(podSecurity, "runAsNonRoot");
            Assert.True(nonRoot == "true", $"{name}: runAsNonRoot");
            foreach (var section in (string[])["requests", "limits"])
            {
                var resources = Map(Map(container, "resources"), section);
                Assert.True(resources.Children.ContainsKey("cpu") && resources.Children.ContainsKey("memory"), $"{name}: resources.{section} needs cpu and memory");
            }
        }
    }

    [Fact]
    public void The_drain_fits_in_the_termination_grace_period()
    {
        var grace = TimeSpan.FromSeconds(int.Parse(Text(PodSpec, "terminationGracePeriodSeconds"), CultureInfo.InvariantCulture));
        Assert.True(EmbeddedConfig().ShutdownTimeout < grace, "shutdown_timeout must end before Kubernetes kills the pod");
    }

    private static ProxyConfig EmbeddedConfig()
    {
        var volume = Items(PodSpec, "volumes").Single(v => v.Children.ContainsKey("configMap"));
        var configMap = Named("ConfigMap", Text(Map(volume, "configMap"), "name"));
        var yaml = Text(Map(configMap, "data"), "config.yaml");
        var environment = TptEnvironment();
        var loaded = ConfigLoader.LoadText(yaml, "configmap", name => environment.GetValueOrDefault(name));
        Assert.True(loaded.Config is not null, "the ConfigMap's config.yaml is invalid:\n" + string.Join('\n', loaded.Diagnostics));
        return loaded.Config;
    }

    /// <summary>The tpt container's environment as the kubelet builds it: plain values and Secret keys.</summary>
    private static Dictionary<string, string> TptEnvironment()
    {
        var environment = new Dictionary<string, string>();
        foreach (var env in Items(Tpt, "env"))
        {
            if (env.Children.ContainsKey("value"))
            {
                environment[Text(env, "name")] = Text(env, "value");
            }
            else if (Map(env, "valueFrom").Children.ContainsKey("secretKeyRef"))
            {
                var reference = Map(Map(env, "valueFrom"), "secretKeyRef");
                environment[Text(env, "name")] = SecretValue(Named("Secret", Text(reference, "name")), Text(reference, "key"));
            }
        }

        return environment;
    }

    private static string SecretValue(YamlMappingNode secret, string key) =>
        secret.Children.TryGetValue("stringData", out var stringData) && ((YamlMappingNode)stringData).Children.ContainsKey(key)
            ? Text((YamlMappingNode)stringData, key)
            : Encoding.UTF8.GetString(Convert.FromBase64String(Text(Map(secret, "data"), key)));

    private static int ResolvePort(YamlMappingNode container, string port) =>
        int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? number
            : int.Parse(Text(Items(container, "ports").Single(p => Text(p, "name") == port), "containerPort"), CultureInfo.InvariantCulture);

    private static HashSet<string> Keys(YamlMappingNode configMapOrSecret) =>
        ((string[])["data", "stringData", "binaryData"])
            .Where(section => configMapOrSecret.Children.ContainsKey(section))
            .SelectMany(section => Map(configMapOrSecret, section).Children.Keys)
            .Select(k => ((YamlScalarNode)k).Value!)
            .ToHashSet();

    /// <summary>The image without tag or digest, as kustomize's images[].name matches it.</summary>
    private static string ImageName(string image)
    {
        var name = image.Split('@')[0];
        var colon = name.LastIndexOf(':');
        return colon > name.LastIndexOf('/') ? name[..colon] : name;
    }

    private static YamlMappingNode Single(string kind)
    {
        var matches = Objects.Where(o => Text(o, "kind") == kind).ToList();
        Assert.True(matches.Count == 1, $"expected one {kind}, found {matches.Count}");
        return matches[0];
    }

    private static YamlMappingNode Named(string kind, string name)
    {
        var match = Objects.SingleOrDefault(o => Text(o, "kind") == kind && Text(Map(o, "metadata"), "name") == name);
        Assert.True(match is not null, $"{kind} '{name}' is referenced but not defined in deploy/kubernetes");
        return match;
    }

    private static Dictionary<string, string> Labels(YamlMappingNode node, params string[] path)
    {
        var map = path.Aggregate(node, Map);
        return map.Children.ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value!);
    }

    private static YamlMappingNode Map(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(key, out var child) && child is YamlMappingNode map ? map : throw new KeyNotFoundException($"no mapping '{key}' at line {node.Start.Line}");

    private static IEnumerable<YamlNode> Seq(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(key, out var child) && child is YamlSequenceNode seq ? seq.Children : throw new KeyNotFoundException($"no list '{key}' at line {node.Start.Line}");

    private static IEnumerable<YamlMappingNode> Items(YamlMappingNode node, string key) =>
        node.Children.ContainsKey(key) ? Seq(node, key).Cast<YamlMappingNode>() : [];

    private static string Text(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(key, out var child) && child is YamlScalarNode scalar ? scalar.Value! : throw new KeyNotFoundException($"no value '{key}' at line {node.Start.Line}");

    private static List<YamlMappingNode> LoadObjects() =>
        System.IO.Directory.EnumerateFiles(Directory, "*.yaml")
            .Where(f => Path.GetFileName(f) != "kustomization.yaml")
            .SelectMany(LoadDocuments)
            .Cast<YamlMappingNode>()
            .ToList();

    private static IEnumerable<YamlNode> LoadDocuments(string path)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(path);
        stream.Load(reader);
        return stream.Documents.Select(d => d.RootNode);
    }

}
