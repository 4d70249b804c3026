namespace TlsProxyTunnel.Tests.Infrastructure;

/// <summary>
/// Seeded hostile inputs for a parser's property test: one in four is random bytes; the rest are valid samples
/// with a few bytes replaced by <c>interesting</c> ones and, one time in three, truncated.
/// </summary>
internal static class MutatedInputs
{
    /// <summary>Yields views of one reused buffer: use each before asking for the next.</summary>
    public static IEnumerable<ArraySegment<byte>> Generate(Random random, byte[][] valid, int rounds, Func<Random, byte> interesting)
    {
        var buffer = new byte[512];
        for (var round = 0; round < rounds; round++)
        {
            int length;
            if (round % 4 == 0)
            {
                length = random.Next(0, buffer.Length);
                random.NextBytes(buffer.AsSpan(0, length));
            }
            else
            {
                var source = valid[random.Next(valid.Length)];
                source.CopyTo(buffer, 0);
                length = source.Length;
                for (var flips = random.Next(0, 4); flips > 0; flips--)
                {
                    buffer[random.Next(length)] = interesting(random);
                }

                length = random.Next(0, 3) == 0 ? random.Next(0, length + 1) : length;
            }

            yield return new ArraySegment<byte>(buffer, 0, length);
        }
    }
}
