using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Rwkv.Onnx.Tokenization;

/// <summary>
/// The tokenizer of vocabulary-256 models (manifest tokenizer kind <c>bytes</c>): token id = UTF-8 byte value.
/// Text is encoded as UTF-8 (an unpaired surrogate becomes U+FFFD, bytes <c>EF BF BD</c>) and each byte is one token.
/// </summary>
/// <remarks>
/// Every byte token of a character reports that whole character as its <see cref="EncodedToken.Value"/> and
/// <see cref="EncodedToken.Offset"/>, so a three-byte character gives three tokens with the same offset.
/// A token budget (<see cref="EncodeSettings.MaxTokenCount"/>) never splits a character. There is no normalizer
/// and no pre-tokenizer. The type is immutable and thread-safe.
/// </remarks>
public sealed class ByteTokenizer : ByteLevelTokenizer
{
    /// <summary>The tokenizer kind written in <see cref="RwkvTokenizerInfo.Kind"/> for byte-level models.</summary>
    public const string Kind = "bytes";

    private static readonly byte[] s_byteValues = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
    private static readonly ByteTokenizer s_instance = new();

    private ByteTokenizer() { }

    /// <summary>Returns the byte tokenizer (a shared immutable instance).</summary>
    public static ByteTokenizer Create() => s_instance;

    /// <summary>Always 256.</summary>
    public override int VocabularySize => 256;

    /// <inheritdoc/>
    public override bool TryGetTokenBytes(int id, out ReadOnlySpan<byte> bytes)
    {
        if ((uint)id >= 256)
        {
            bytes = default;
            return false;
        }
        bytes = s_byteValues.AsSpan(id, 1);
        return true;
    }

    /// <summary>Encodes text to token ids (its UTF-8 bytes) into a new array.</summary>
    /// <param name="text">The text.</param>
    /// <returns>One id per UTF-8 byte.</returns>
    public int[] EncodeToArray(ReadOnlySpan<char> text)
    {
        byte[] utf8 = new byte[Encoding.UTF8.GetByteCount(text)];
        Encoding.UTF8.GetBytes(text, utf8);
        int[] ids = new int[utf8.Length];
        for (int i = 0; i < utf8.Length; i++)
        {
            ids[i] = utf8[i];
        }
        return ids;
    }

    /// <inheritdoc/>
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        ReadOnlySpan<char> input = text is null ? textSpan : text.AsSpan();
        var tokens = new List<EncodedToken>(input.Length);
        int charsConsumed = Encode(input, settings.MaxTokenCount, ids: null, tokens, out _);
        return new EncodeResults<EncodedToken> { Tokens = tokens, NormalizedText = null, CharsConsumed = charsConsumed };
    }

    /// <inheritdoc/>
    protected override EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        ReadOnlySpan<char> input = text is null ? textSpan : text.AsSpan();
        var ids = new List<int>(input.Length);
        int charsConsumed = Encode(input, settings.MaxTokenCount, ids, tokens: null, out _);
        return new EncodeResults<int> { Tokens = ids, NormalizedText = null, CharsConsumed = charsConsumed };
    }

    /// <inheritdoc/>
    protected override int CountTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        Encode(text is null ? textSpan : text.AsSpan(), settings.MaxTokenCount, ids: null, tokens: null, out int tokenCount);
        return tokenCount;
    }

    /// <inheritdoc/>
    protected override int GetIndexByTokenCount(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings, bool fromEnd,
        out string? normalizedText, out int tokenCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.MaxTokenCount);
        ReadOnlySpan<char> input = text is null ? textSpan : text.AsSpan();
        normalizedText = null;
        tokenCount = 0;
        if (!fromEnd)
        {
            return Encode(input, settings.MaxTokenCount, ids: null, tokens: null, out tokenCount);
        }

        // From the end: take whole characters while their bytes fit into the budget.
        int index = input.Length;
        while (index > 0)
        {
            if (Rune.DecodeLastFromUtf16(input[..index], out Rune rune, out int chars) != OperationStatus.Done)
            {
                rune = Rune.ReplacementChar;
            }
            if (tokenCount + rune.Utf8SequenceLength > settings.MaxTokenCount)
            {
                break;
            }
            tokenCount += rune.Utf8SequenceLength;
            index -= chars;
        }
        return index;
    }

    // Walks the text rune by rune, adding each UTF-8 byte as a token, and stops before a rune that would exceed
    // the budget. Returns the number of characters consumed.
    private static int Encode(ReadOnlySpan<char> input, int maxTokenCount, List<int>? ids, List<EncodedToken>? tokens, out int tokenCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxTokenCount);
        Span<byte> utf8 = stackalloc byte[4];
        int index = 0;
        tokenCount = 0;
        while (index < input.Length)
        {
            if (Rune.DecodeFromUtf16(input[index..], out Rune rune, out int chars) != OperationStatus.Done)
            {
                rune = Rune.ReplacementChar;   // an unpaired surrogate, as Encoding.UTF8 does
            }
            int byteCount = rune.EncodeToUtf8(utf8);
            if (tokenCount + byteCount > maxTokenCount)
            {
                break;
            }
            string? value = tokens is null ? null : input.Slice(index, chars).ToString();
            for (int b = 0; b < byteCount; b++)
            {
                ids?.Add(utf8[b]);
                tokens?.Add(new EncodedToken(utf8[b], value!, new Range(index, index + chars)));   // value is set when tokens is
            }
            tokenCount += byteCount;
            index += chars;
        }
        return index;
    }
}
