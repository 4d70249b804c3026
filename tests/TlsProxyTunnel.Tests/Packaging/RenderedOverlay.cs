using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using TlsProxyTunnel.Configuration;
using YamlDotNet.RepresentationModel;
using static TlsProxyTunnel.Tests.Packaging.YamlNodes;

namespace TlsProxyTunnel.Tests.Packaging;

/// <summary>
/// One overlay of deploy/kubernetes as <c>kubectl kustomize</c> renders it, with the tpt configuration its
/// ConfigMap carries loaded by tpt's own loader in the environment the pod gives the container.
/// </summary>
internal sealed class RenderedOverlay
{
    public static readonly string KubernetesDirectory = Path.Combine(Repository.Root, "deploy", "kubernetes");

    private static readonly ConcurrentDictionary<string, Lazy<RenderedOverlay>> Rendered = new(StringComparer.Ordinal);

    private readonly Lazy<ProxyConfig> _config;

    private RenderedOverlay(string name, List<YamlMappingNode> objects)
    {
        Name = name;
        Objects = objects;
        _config = new Lazy<ProxyConfig>(LoadConfig);
    }

    public string Name { get; }

    public IReadOnlyList<YamlMappingNode> Objects { get; }

    public YamlMappingNode Deployment => Single("Deployment");

    public YamlMappingNode PodSpec => Map(Map(Map(Deployment, "spec"), "template"), "spec");

    public Dictionary<string, string> PodLabels => Labels(Map(Map(Deployment, "spec"), "template"), "metadata", "labels");

    public IEnumerable<YamlMappingNode> Containers => Items(PodSpec, "initContainers").Concat(Items(PodSpec, "containers"));

    public YamlMappingNode Tpt => Containers.Single(c => Text(c, "image").Contains("/tpt", StringComparison.Ordinal));

    /// <summary>The configuration in the ConfigMap mounted into the tpt container.</summary>
    public ProxyConfig Config => _config.Value;

    /// <summary>Ports of servers that only serve <c>health</c>, on an address the kubelet and Prometheus can reach.</summary>
    public HashSet<int> HealthPorts =>
        Config.Servers.Where(IsProbeOnly).SelectMany(s => s.Listen)
            .Where(l => !System.Net.IPAddress.IsLoopback(l.EndPoint.Address))
            .Select(l => l.EndPoint.Port)
            .ToHashSet();

    public static RenderedOverlay Of(string overlay) =>
        Rendered.GetOrAdd(overlay, o => new Lazy<RenderedOverlay>(() => new RenderedOverlay(o, Kustomize.Render(Path.Combine(KubernetesDirectory, o))))).Value;

    /// <summary>As tpt decides it (RuntimeSnapshotBuilder): every route of the server leads to <c>health</c>.</summary>
    public static bool IsProbeOnly(ServerConfig server) =>
        server.Default == "health" && (!server.Tls || server.Sni.All(r => r.Upstream == "health"));

    public static bool Selects(IReadOnlyDictionary<string, string> selector, IReadOnlyDictionary<string, string> labels) =>
        selector.Count > 0 && selector.All(l => labels.TryGetValue(l.Key, out var value) && value == l.Value);

    /// <summary>The image without tag or digest, as kustomize's images[].name matches it.</summary>
    public static string ImageName(string image)
    {
        var name = image.Split('@')[0];
        var colon = name.LastIndexOf(':');
        return colon > name.LastIndexOf('/') ? name[..colon] : name;
    }

    public IEnumerable<YamlMappingNode> OfKind(string kind) => Objects.Where(o => Text(o, "kind") == kind);

    public YamlMappingNode Single(string kind)
    {
        var matches = OfKind(kind).ToList();
        Assert.True(matches.Count == 1, $"{Name}: expected one {kind}, found {matches.Count}");
        return matches[0];
    }

    public YamlMappingNode Named(string kind, string name)
    {
        var match = OfKind(kind).SingleOrDefault(o => Text(Map(o, "metadata"), "name") == name);
        Assert.True(match is not null, $"{Name}: {kind} '{name}' is referenced but not rendered");
        return match;
    }

    /// <summary>A container port given by number or by name.</summary>
    public static int ResolvePort(YamlMappingNode container, string port) =>
        int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? number
            : Int(Items(container, "ports").Single(p => Text(p, "name") == port), "containerPort");

    /// <summary>The tpt container's environment as the kubelet builds it: plain values and Secret keys.</summary>
    public Dictionary<string, string> TptEnvironment()
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var env in Items(Tpt, "env"))
        {
            if (Has(env, "value"))
            {
                environment[Text(env, "name")] = Text(env, "value");
            }
            else if (Has(Map(env, "valueFrom"), "secretKeyRef"))
            {
                var reference = Map(Map(env, "valueFrom"), "secretKeyRef");
                environment[Text(env, "name")] = SecretValue(Named("Secret", Text(reference, "name")), Text(reference, "key"));
            }
        }

        return environment;
    }

    public static HashSet<string> Keys(YamlMappingNode configMapOrSecret) =>
        ((string[])["data", "stringData", "binaryData"])
            .Where(section => Has(configMapOrSecret, section))
            .SelectMany(section => Map(configMapOrSecret, section).Children.Keys)
            .Select(k => ((YamlScalarNode)k).Value!)
            .ToHashSet(StringComparer.Ordinal);

    public static string SecretValue(YamlMappingNode secret, string key) =>
        Has(secret, "stringData") && Has(Map(secret, "stringData"), key)
            ? Text(Map(secret, "stringData"), key)
            : Encoding.UTF8.GetString(Convert.FromBase64String(Text(Map(secret, "data"), key)));

    private ProxyConfig LoadConfig()
    {
        var volume = Items(PodSpec, "volumes").Single(v => Has(v, "configMap"));
        var configMap = Named("ConfigMap", Text(Map(volume, "configMap"), "name"));
        var yaml = Text(Map(configMap, "data"), "config.yaml");
        var environment = TptEnvironment();
        var loaded = ConfigLoader.LoadText(yaml, $"{Name}/configmap.yaml", name => environment.GetValueOrDefault(name));
        Assert.True(loaded.Config is not null, $"{Name}: the ConfigMap's config.yaml is invalid:\n" + string.Join('\n', loaded.Diagnostics));
        Assert.True(loaded.Diagnostics.Count == 0, $"{Name}: the ConfigMap's config.yaml has warnings:\n" + string.Join('\n', loaded.Diagnostics));
        return loaded.Config;
    }
}
