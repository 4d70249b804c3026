namespace TlsProxyTunnel.IntegrationTests.Reliability;

/// <summary>
/// A minimal but well-formed TLS 1.3 ClientHello whose server_name carries any bytes at all (the integration
/// project cannot use the unit tests' builder; this is the least of it that a parser accepts).
/// </summary>
public static class CraftedHello
{
    public static byte[] WithSni(ReadOnlySpan<byte> hostName) => WithServerNames([hostName.ToArray()]);

    /// <summary>One server_name extension listing several host_name entries, in this order.</summary>
    public static byte[] WithServerNames(params string[] hostNames) =>
        WithServerNames([.. hostNames.Select(n => System.Text.Encoding.UTF8.GetBytes(n))]);

    private static byte[] WithServerNames(byte[][] hostNames)
    {
        var body = new List<byte> { 0x03, 0x03 };
        body.AddRange(new byte[32]);
        body.Add(0);
        Add16(body, 2);
        body.AddRange([0x13, 0x01]);
        body.AddRange([0x01, 0x00]);

        var extensions = new List<byte>();

        // server_name: list length, then one host_name entry per name.
        var list = new List<byte>();
        foreach (var hostName in hostNames)
        {
            list.Add(0);
            Add16(list, hostName.Length);
            list.AddRange(hostName);
        }

        Add16(extensions, 0x0000);
        Add16(extensions, list.Count + 2);
        Add16(extensions, list.Count);
        extensions.AddRange(list);

        // supported_versions: TLS 1.3.
        extensions.AddRange([0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04]);
        Add16(body, extensions.Count);
        body.AddRange(extensions);

        var message = new List<byte> { 0x01, (byte)(body.Count >> 16), (byte)(body.Count >> 8), (byte)body.Count };
        message.AddRange(body);
        var record = new List<byte> { 0x16, 0x03, 0x01, (byte)(message.Count >> 8), (byte)message.Count };
        record.AddRange(message);
        return [.. record];
    }

    public static byte[] WithSni(string hostName) => WithSni(System.Text.Encoding.UTF8.GetBytes(hostName));

    private static void Add16(List<byte> to, int value)
    {
        to.Add((byte)(value >> 8));
        to.Add((byte)value);
    }
}
