namespace TlsProxyTunnel.IntegrationTests.Infrastructure;

/// <summary>Reshapes a real single-record ClientHello without changing the handshake message it carries.</summary>
public static class HelloSurgery
{
    /// <summary>The handshake message (type, length, body) of a ClientHello sent in one record.</summary>
    public static byte[] HandshakeMessage(byte[] singleRecordHello)
    {
        Assert.Equal(0x16, singleRecordHello[0]);
        var length = (singleRecordHello[3] << 8) | singleRecordHello[4];
        Assert.Equal(singleRecordHello.Length, 5 + length);
        return singleRecordHello[5..];
    }

    /// <summary>The message re-framed into records whose payloads end at <paramref name="cuts"/> (offsets in the message).</summary>
    public static byte[] SplitAt(byte[] singleRecordHello, params int[] cuts)
    {
        var message = HandshakeMessage(singleRecordHello);
        var output = new List<byte>();
        var start = 0;
        foreach (var cut in cuts.Append(message.Length))
        {
            AppendRecord(output, singleRecordHello, message.AsSpan(start, cut - start));
            start = cut;
        }

        return [.. output];
    }

    public static byte[] SplitEvery(byte[] singleRecordHello, int recordPayloadSize)
    {
        var length = HandshakeMessage(singleRecordHello).Length;
        var cuts = new List<int>();
        for (var cut = recordPayloadSize; cut < length; cut += recordPayloadSize)
        {
            cuts.Add(cut);
        }

        return SplitAt(singleRecordHello, [.. cuts]);
    }

    /// <summary>Offset within the handshake message where <paramref name="hostName"/> starts.</summary>
    public static int HostNameOffset(byte[] singleRecordHello, string hostName)
    {
        var message = HandshakeMessage(singleRecordHello);
        var index = message.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(hostName));
        Assert.True(index > 0, $"{hostName} not found in the hello");
        return index;
    }

    /// <summary>
    /// Appends an unknown extension of <paramref name="extraBytes"/> to the hello, fixing every length, and frames the
    /// (now possibly huge) message into records of at most 16 KiB, as a real client must.
    /// </summary>
    public static byte[] Enlarge(byte[] singleRecordHello, int extraBytes)
    {
        var message = HandshakeMessage(singleRecordHello).ToList();
        var p = 4 + 2 + 32;
        p += 1 + message[p];
        p += 2 + ((message[p] << 8) | message[p + 1]);
        p += 1 + message[p];
        var extensionsLengthAt = p;
        var extensionsLength = (message[p] << 8) | message[p + 1];
        Assert.Equal(message.Count, p + 2 + extensionsLength);

        var body = extraBytes - 4;
        var extension = new byte[extraBytes];
        extension[0] = 0xff;
        extension[1] = 0x77;
        extension[2] = (byte)(body >> 8);
        extension[3] = (byte)body;
        message.AddRange(extension);
        extensionsLength += extraBytes;
        message[extensionsLengthAt] = (byte)(extensionsLength >> 8);
        message[extensionsLengthAt + 1] = (byte)extensionsLength;
        var handshakeLength = message.Count - 4;
        message[1] = (byte)(handshakeLength >> 16);
        message[2] = (byte)(handshakeLength >> 8);
        message[3] = (byte)handshakeLength;

        var output = new List<byte>();
        var array = message.ToArray();
        for (var start = 0; start < array.Length; start += 16384)
        {
            AppendRecord(output, singleRecordHello, array.AsSpan(start, Math.Min(16384, array.Length - start)));
        }

        return [.. output];
    }

    private static void AppendRecord(List<byte> output, byte[] template, ReadOnlySpan<byte> payload)
    {
        output.Add(0x16);
        output.Add(template[1]);
        output.Add(template[2]);
        output.Add((byte)(payload.Length >> 8));
        output.Add((byte)payload.Length);
        output.AddRange(payload);
    }
}
