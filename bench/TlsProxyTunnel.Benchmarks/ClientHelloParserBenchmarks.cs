using BenchmarkDotNet.Attributes;
using TlsProxyTunnel.Tls;

namespace TlsProxyTunnel.Benchmarks;

[MemoryDiagnoser]
[ShortRunJob]
public class ClientHelloParserBenchmarks
{
    // tls-proxy-tunnel.md §7: 320 bytes of data then 197 zero bytes of padding.
    private const string RealVectorHex =
        "1603010200010001fc0303357aba3d89d25e7aa2d4e56dd5a39841b0ae41fce664fdae0b276d90a80afa9020596f13184ad11cc4838cfc93ac6b3bac67d036b0a21b04f7de02fb961edc76a800202a2a130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f003501000193eaea000000000013001100000e7777772e6c697275692e7465636800170000ff01000100000a000a0008baba001d00170018000b00020100002300000010000e000c02683208687474702f312e31000500050100000000000d0012001004030804040105030805050108060601001200000033002b0029baba000100001d00203b45f9bc6e238641a5b2f503ec674ad79a179f0c386d36f34e5da47d1579a43f002d00020101002b000b0ababa0304030303020301001b0003020002446900050003026832dada000100001500c5";

    private readonly byte[] _hostName = new byte[ClientHelloParser.MaxHostNameLength];
    private byte[] _real517 = [];
    private byte[] _postQuantum = [];
    private byte[] _postQuantumThreeRecords = [];

    [GlobalSetup]
    public void Setup()
    {
        _real517 = [.. Convert.FromHexString(RealVectorHex), .. new byte[197]];
        var message = PostQuantumMessage("pq.bench.example.com");
        _postQuantum = Frame(message, 16384);
        _postQuantumThreeRecords = Frame(message, (message.Length / 3) + 1);
        if (ClientHelloParser.Parse(_postQuantum, _hostName, out _) != ClientHelloOutcome.SniFound
            || ClientHelloParser.Parse(_real517, _hostName, out _) != ClientHelloOutcome.SniFound)
        {
            throw new InvalidOperationException("Benchmark inputs do not parse.");
        }
    }

    [Benchmark(Baseline = true)]
    public int Real517() => Parse(_real517);

    [Benchmark]
    public int PostQuantum2KB() => Parse(_postQuantum);

    [Benchmark]
    public int PostQuantum2KBIn3Records() => Parse(_postQuantumThreeRecords);

    [Benchmark]
    public int PostQuantumHalfReceived() => Parse(_postQuantum.AsSpan(0, _postQuantum.Length / 2));

    private int Parse(ReadOnlySpan<byte> data)
    {
        ClientHelloParser.Parse(data, _hostName, out var length);
        return length;
    }

    /// <summary>A Chrome-shaped hello with an X25519MLKEM768 key share (1216 bytes) and ECH, ~1.9 KB.</summary>
    private static byte[] PostQuantumMessage(string host)
    {
        var name = System.Text.Encoding.ASCII.GetBytes(host);
        byte[] extensions =
        [
            .. Ext(0x0a0a, []),
            .. Ext(0x0000, [.. U16(name.Length + 3), 0x00, .. U16(name.Length), .. name]),
            .. Ext(0x0017, []),
            .. Ext(0xff01, [0x00]),
            .. Ext(0x000a, [0x00, 0x08, 0x2a, 0x2a, 0x11, 0xec, 0x00, 0x1d, 0x00, 0x17]),
            .. Ext(0x000b, [0x01, 0x00]),
            .. Ext(0x0023, []),
            .. Ext(0x0010, [0x00, 0x0c, 0x02, (byte)'h', (byte)'2', 0x08, .. "http/1.1"u8]),
            .. Ext(0x000d, [0x00, 0x10, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03, 0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01]),
            .. Ext(0x0033, [.. U16(5 + 4 + 1216 + 4 + 32), 0x2a, 0x2a, 0x00, 0x01, 0x00, 0x11, 0xec, .. U16(1216), .. new byte[1216], 0x00, 0x1d, 0x00, 0x20, .. new byte[32]]),
            .. Ext(0x002d, [0x01, 0x01]),
            .. Ext(0x002b, [0x06, 0x3a, 0x3a, 0x03, 0x04, 0x03, 0x03]),
            .. Ext(0xfe0d, [0x00, 0x00, 0x01, 0x00, 0x01, 0x2c, 0x00, 0x20, .. new byte[32], .. U16(186), .. new byte[186]]),
            .. Ext(0x4a4a, [0x00]),
        ];
        byte[] body =
        [
            0x03, 0x03, .. new byte[32], 0x20, .. new byte[32],
            0x00, 0x08, 0x2a, 0x2a, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03,
            0x01, 0x00,
            .. U16(extensions.Length), .. extensions,
        ];
        return [0x01, (byte)(body.Length >> 16), (byte)(body.Length >> 8), (byte)body.Length, .. body];
    }

    private static byte[] Ext(ushort type, byte[] data) => [.. U16(type), .. U16(data.Length), .. data];

    private static byte[] U16(int value) => [(byte)(value >> 8), (byte)value];

    private static byte[] Frame(byte[] message, int recordSize)
    {
        var output = new List<byte>();
        for (var offset = 0; offset < message.Length; offset += recordSize)
        {
            var length = Math.Min(recordSize, message.Length - offset);
            output.AddRange([0x16, 0x03, 0x01, (byte)(length >> 8), (byte)length]);
            output.AddRange(message.AsSpan(offset, length));
        }

        return [.. output];
    }
}
