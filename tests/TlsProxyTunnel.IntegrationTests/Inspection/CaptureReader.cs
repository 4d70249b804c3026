using System.Diagnostics;
using System.Text;

namespace TlsProxyTunnel.IntegrationTests.Inspection;

/// <summary>
/// An independent reader of capture files (seed-tools §4.5): a few lines of Python 3 that check each line against
/// prox.py's format, that times never go back, and decode the chunks. Nothing of tpt's own code reads the file here.
/// </summary>
internal static class CaptureReader
{
    private const string Script = """
        import re, sys
        line_re = re.compile(r'^[0-9]+\.[0-9]{6} (\S+) ([io]) ([0-9a-f]+)$')
        last = 0.0
        data = {'i': bytearray(), 'o': bytearray()}
        clients = []
        for n, raw in enumerate(open(sys.argv[1], 'rb').read().decode('ascii').split('\n')[:-1], 1):
            m = line_re.match(raw)
            if not m:
                print('BAD %d %r' % (n, raw)); sys.exit(1)
            t = float(raw.split(' ')[0])
            if t < last:
                print('BACKWARDS %d' % n); sys.exit(1)
            last = t
            if m.group(1) not in clients:
                clients.append(m.group(1))
            data[m.group(2)] += bytes.fromhex(m.group(3))
        print('CLIENTS ' + ' '.join(clients))
        print('I ' + data['i'].hex())
        print('O ' + data['o'].hex())
        """;

    /// <summary>The clients named, in order of first appearance, and the bytes of each direction; fails the test on a bad line.</summary>
    public static async Task<(IReadOnlyList<string> Clients, byte[] In, byte[] Out)> ReadAsync(string path)
    {
        var info = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(Script);
        info.ArgumentList.Add(path);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var output = await stdout;
        Assert.True(process.ExitCode == 0, $"capture reader: {output}{await stderr}");
        var lines = output.Split('\n');
        var clients = lines[0]["CLIENTS ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (clients, Convert.FromHexString(lines[1][2..]), Convert.FromHexString(lines[2][2..]));
    }

    /// <summary>Waits until the capture holds <paramref name="inBytes"/> and <paramref name="outBytes"/> bytes (the writer runs behind the relay).</summary>
    public static async Task<(IReadOnlyList<string> Clients, byte[] In, byte[] Out)> ReadWhenCompleteAsync(string path, int inBytes, int outBytes, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            // Lines only; a half-written last line cannot occur (each batch is one write of whole lines).
            var hex = File.Exists(path) ? CountHex(path) : (0, 0);
            if (hex.In >= inBytes * 2 && hex.Out >= outBytes * 2)
            {
                return await ReadAsync(path);
            }

            if (deadline.Elapsed > (timeout ?? TimeSpan.FromSeconds(20)))
            {
                Assert.Fail($"the capture holds {hex.In / 2} bytes in and {hex.Out / 2} out, not {inBytes} and {outBytes}");
            }

            await Task.Delay(50);
        }
    }

    private static (long In, long Out) CountHex(string path)
    {
        long inHex = 0, outHex = 0;
        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite), Encoding.ASCII);
        while (reader.ReadLine() is { } line)
        {
            var fields = line.Split(' ');
            if (fields.Length == 4)
            {
                if (fields[2] == "i")
                {
                    inHex += fields[3].Length;
                }
                else
                {
                    outHex += fields[3].Length;
                }
            }
        }

        return (inHex, outHex);
    }
}
