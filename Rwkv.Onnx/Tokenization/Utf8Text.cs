using System.Buffers;
using System.Text;

namespace Rwkv.Onnx.Tokenization;

/// <summary>
/// UTF-16 text as UTF-8 bytes, with the map between byte and character positions. An unpaired surrogate becomes
/// U+FFFD (bytes <c>EF BF BD</c>), as <see cref="Encoding.UTF8"/> does.
/// </summary>
internal sealed class Utf8Text
{
    private readonly byte[] _bytes;
    private readonly int[] _runeCharStart;   // per byte: index of the first char of the rune the byte belongs to
    private readonly int[] _runeCharEnd;     // per byte: index after the last char of that rune
    private readonly bool[] _runeStart;      // per byte: whether the byte starts a rune

    private Utf8Text(byte[] bytes, int[] runeCharStart, int[] runeCharEnd, bool[] runeStart, int charCount)
    {
        _bytes = bytes;
        _runeCharStart = runeCharStart;
        _runeCharEnd = runeCharEnd;
        _runeStart = runeStart;
        CharCount = charCount;
    }

    /// <summary>The UTF-8 bytes.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>The number of UTF-16 chars of the text.</summary>
    public int CharCount { get; }

    /// <summary>Converts <paramref name="text"/>.</summary>
    public static Utf8Text From(ReadOnlySpan<char> text)
    {
        int capacity = Encoding.UTF8.GetMaxByteCount(text.Length);
        var bytes = new List<byte>(Math.Min(capacity, 1 << 20));
        var charStart = new List<int>();
        var charEnd = new List<int>();
        var runeStart = new List<bool>();
        Span<byte> utf8 = stackalloc byte[4];
        int index = 0;
        while (index < text.Length)
        {
            if (Rune.DecodeFromUtf16(text[index..], out Rune rune, out int chars) != OperationStatus.Done)
            {
                rune = Rune.ReplacementChar;
            }
            int count = rune.EncodeToUtf8(utf8);
            for (int b = 0; b < count; b++)
            {
                bytes.Add(utf8[b]);
                charStart.Add(index);
                charEnd.Add(index + chars);
                runeStart.Add(b == 0);
            }
            index += chars;
        }
        return new Utf8Text([.. bytes], [.. charStart], [.. charEnd], [.. runeStart], text.Length);
    }

    /// <summary>Whether byte position <paramref name="byteIndex"/> (0 to length) falls between two characters.</summary>
    public bool IsCharBoundary(int byteIndex) => byteIndex == _bytes.Length || _runeStart[byteIndex];

    /// <summary>The index of the first char of the character that byte <paramref name="byteIndex"/> belongs to; the char count at the end.</summary>
    public int CharStart(int byteIndex) => byteIndex == _bytes.Length ? CharCount : _runeCharStart[byteIndex];

    /// <summary>The index after the character that holds the byte before position <paramref name="byteEnd"/>; 0 at the start.</summary>
    public int CharEnd(int byteEnd) => byteEnd == 0 ? 0 : _runeCharEnd[byteEnd - 1];
}
