using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Tests.Configuration;

internal static class ConfigTestHelpers
{
    public const string FileName = "test.yaml";

    public static Func<string, string?> Env(params (string Name, string Value)[] variables)
    {
        var map = variables.ToDictionary(v => v.Name, v => v.Value, StringComparer.Ordinal);
        return name => map.GetValueOrDefault(name);
    }

    public static ConfigLoadResult Load(string yaml, Func<string, string?>? environment = null) =>
        ConfigLoader.LoadText(yaml.ReplaceLineEndings("\n"), FileName, environment ?? Env());

    public static ProxyConfig LoadOk(string yaml, Func<string, string?>? environment = null)
    {
        var result = Load(yaml, environment);
        Assert.True(result.Succeeded, string.Join(Environment.NewLine, result.Diagnostics));
        Assert.Empty(result.Errors);
        return result.Config!;
    }

    public static ConfigDiagnostic SingleError(string yaml, Func<string, string?>? environment = null)
    {
        var result = Load(yaml, environment);
        Assert.False(result.Succeeded);
        var errors = result.Errors.ToList();
        Assert.True(errors.Count == 1, "expected one error, got:" + Environment.NewLine + string.Join(Environment.NewLine, result.Diagnostics));
        return errors[0];
    }

    /// <summary>A minimal valid document with one server whose body is <paramref name="serverBody"/> (already indented 4).</summary>
    public static string WithServer(string serverBody, string extraTop = "") =>
        $"""
        version: 2
        {extraTop}
        servers:
          web:
            listen: ["127.0.0.1:8443"]
        {serverBody}
        """;
}
