using System.Text;
using TlsProxyTunnel.Configuration;

namespace TlsProxyTunnel.Tests.Configuration;

/// <summary>
/// Random, truncated and mutated configuration documents give a configuration or errors, never an exception
/// or a hang; a result is either a config with no error or errors with no config.
/// </summary>
public sealed class ConfigLoaderPropertyTests
{
    private const int Seed = 7_2026;

    internal const string Small = """
        version: 2
        log: ${LEVEL:-debug}
        upstream:
          a: tcp://127.0.0.1:$PORT
          b: tcp6://[::1]:443
        via: &p
          target: proxy.test:3128
          headers: {X-A: "$SET", X-B: "${EMPTY}"}
          auth: {username: u, password: "${SET}"}
        servers:
          s:
            listen: ["127.0.0.1:0", "[::1]:0"]
            tls: true
            sni:
              a.test: a
              "*.b.test": {upstream: b, via: {<<: *p, use_sni_as_target: true, target_port: 8443}}
            default: ban
            maxclients: 10
            client_hello_timeout: 3s
            idle_timeout: 1h 30m
          h:
            listen: ["127.0.0.1:0"]
            default: health
        """;

    private static readonly string[] Tokens =
    [
        ":", " ", "\n", "  ", "- ", "[", "]", "{", "}", ",", "\"", "'", "&a ", "*a", "<<: ", "!!binary ", "!tag ", "? ", "|", ">",
        "$", "${", "}", "${X:-", "$$", "#", "\t", "\0", "\r", "%YAML 1.2\n", "---\n", "...\n", "~", "null", "0x10", "-1", "99999999999999999999",
        "1h 30m", "100ms", "tcp://", "[::1]", "ban", "health", "servers", "listen", "sni", "via", "target", "\u00e9", "\ud83d\ude00", "\ufeff",
    ];

    private static readonly Func<string, string?> Environment = name => name switch
    {
        "SET" => "value",
        "PORT" => "8443",
        "EMPTY" => "",
        "NESTED" => "${SET}",
        _ => null,
    };

    [Fact]
    public async Task Every_truncation_of_valid_documents_gives_config_or_errors()
    {
        var example = File.ReadAllText(Path.Combine(Repository.Root, "config.yaml.example")).ReplaceLineEndings("\n");
        await RunBoundedAsync(() =>
        {
            Assert.True(LoadChecked(Small).Succeeded);
            for (var cut = 0; cut <= Small.Length; cut++)
            {
                LoadChecked(Small[..cut]);
            }

            for (var cut = 0; cut <= example.Length; cut += 37)
            {
                LoadChecked(example[..cut]);
            }
        });
    }

    [Fact]
    public async Task Mutated_documents_give_config_or_errors()
    {
        var random = new Random(Seed);
        await RunBoundedAsync(() =>
        {
            for (var round = 0; round < 1500; round++)
            {
                var text = new StringBuilder(Small);
                for (var edits = random.Next(1, 5); edits > 0; edits--)
                {
                    var at = random.Next(text.Length + 1);
                    switch (random.Next(4))
                    {
                        case 0:
                            text.Insert(at, Tokens[random.Next(Tokens.Length)]);
                            break;
                        case 1:
                            text.Remove(Math.Min(at, text.Length - 1), Math.Min(random.Next(1, 20), text.Length - Math.Min(at, text.Length - 1)));
                            break;
                        case 2:
                            // Splice: copy a random stretch of the document somewhere else.
                            var from = random.Next(Small.Length);
                            text.Insert(at, Small.AsSpan(from, Math.Min(random.Next(1, 60), Small.Length - from)));
                            break;
                        default:
                            if (at < text.Length)
                            {
                                text[at] = (char)random.Next(0, 128);
                            }

                            break;
                    }
                }

                LoadChecked(text.ToString());
            }
        });
    }

    [Fact]
    public async Task Random_text_and_bytes_give_errors()
    {
        var random = new Random(Seed);
        await RunBoundedAsync(() =>
        {
            var bytes = new byte[300];
            for (var round = 0; round < 1000; round++)
            {
                string text;
                if (round % 2 == 0)
                {
                    random.NextBytes(bytes);
                    text = Encoding.UTF8.GetString(bytes, 0, random.Next(bytes.Length));
                }
                else
                {
                    var builder = new StringBuilder();
                    for (var n = random.Next(1, 40); n > 0; n--)
                    {
                        builder.Append(Tokens[random.Next(Tokens.Length)]);
                    }

                    text = builder.ToString();
                }

                LoadChecked(text);
            }
        });
    }

    internal static ConfigLoadResult LoadChecked(string text)
    {
        var result = ConfigLoader.LoadText(text, "fuzz.yaml", Environment);
        Assert.Equal(result.Succeeded, !result.Errors.Any());
        return result;
    }

    private static async Task RunBoundedAsync(Action body)
    {
        // A hang is a finding too (WaitAsync throws TimeoutException); speed is the fuzzer's and benchmarks' job.
        await Task.Run(body).WaitAsync(TimeSpan.FromSeconds(30));
    }

}
