namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as zip archives record it.</summary>
internal static class Crc32
{
    private static readonly uint[] s_table = CreateTable();

    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(0xffffffff, data);

    /// <summary>
    /// Feeds <paramref name="data"/> into a running CRC register: start from <c>0xffffffff</c>, call once per
    /// piece, and complement the result (<c>~register</c>) at the end.
    /// </summary>
    public static uint Update(uint register, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
        {
            register = s_table[(register ^ b) & 0xff] ^ (register >> 8);
        }
        return register;
    }

    private static uint[] CreateTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < table.Length; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xedb88320 ^ (c >> 1) : c >> 1;
            }
            table[n] = c;
        }
        return table;
    }
}
