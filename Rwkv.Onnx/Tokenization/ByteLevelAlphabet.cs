namespace Rwkv.Onnx.Tokenization;

/// <summary>
/// GPT-2's byte-level alphabet: each byte is shown as one printable character (the printable Latin-1 bytes as
/// themselves, the others as U+0100 upwards, e.g. space as 'Ġ' U+0120, newline as 'Ċ' U+010A). Byte-level BPE
/// vocabularies are written in it.
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly int[] s_charToByte = BuildCharToByte();

    /// <summary>The bytes a vocabulary string stands for, or null if it has a character outside the alphabet.</summary>
    public static byte[]? ToBytes(string token)
    {
        byte[] bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            int b = token[i] < s_charToByte.Length ? s_charToByte[token[i]] : -1;
            if (b < 0)
            {
                return null;
            }
            bytes[i] = (byte)b;
        }
        return bytes;
    }

    // bytes_to_unicode() of GPT-2's encoder.py: '!'..'~', '¡'..'¬' and '®'..'ÿ' map to themselves; the other 68
    // bytes, in increasing order, to U+0100, U+0101, ...
    private static int[] BuildCharToByte()
    {
        int[] map = new int[0x100 + 68];
        Array.Fill(map, -1);
        int next = 0x100;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[printable ? b : next++] = b;
        }
        return map;
    }
}
