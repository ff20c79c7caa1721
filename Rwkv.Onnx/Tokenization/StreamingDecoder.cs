using System.Text;

namespace Rwkv.Onnx.Tokenization;

/// <summary>
/// Turns a stream of tokens into text one token at a time. Bytes of a UTF-8 character split across tokens are
/// held until the character is complete, so token-by-token decoding never emits U+FFFD for a split character;
/// byte sequences that can never become valid UTF-8 are emitted as U+FFFD.
/// </summary>
/// <remarks>Create one with <see cref="ByteLevelTokenizer.CreateStreamingDecoder"/>. One decoder per token stream; not thread-safe.</remarks>
public sealed class StreamingDecoder
{
    private readonly ByteLevelTokenizer _tokenizer;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private char[] _chars = new char[16];

    internal StreamingDecoder(ByteLevelTokenizer tokenizer) => _tokenizer = tokenizer;

    /// <summary>Adds one token and returns the text it completes (empty while a character is incomplete).</summary>
    /// <param name="id">The token id.</param>
    /// <returns>The new text; <see cref="string.Empty"/> when there is none.</returns>
    /// <exception cref="ArgumentException"><paramref name="id"/> is outside the vocabulary.</exception>
    public string Append(int id)
    {
        if (!_tokenizer.TryGetTokenBytes(id, out ReadOnlySpan<byte> bytes))
        {
            throw new ArgumentException(
                $"Token id {id} is outside the vocabulary of {_tokenizer.VocabularySize} tokens (valid ids are 0 to {_tokenizer.VocabularySize - 1}).",
                nameof(id));
        }
        return Append(bytes, flush: false);
    }

    /// <summary>
    /// Ends the stream: returns U+FFFD for each incomplete sequence still held (or an empty string) and resets
    /// the decoder for a new stream.
    /// </summary>
    public string Flush() => Append([], flush: true);

    /// <summary>Drops any held bytes and starts a new stream.</summary>
    public void Reset() => _utf8.Reset();

    private string Append(ReadOnlySpan<byte> bytes, bool flush)
    {
        int needed = _utf8.GetCharCount(bytes, flush);
        if (needed > _chars.Length)
        {
            _chars = new char[Math.Max(needed, _chars.Length * 2)];
        }
        int written = _utf8.GetChars(bytes, _chars, flush);
        return written == 0 ? string.Empty : new string(_chars, 0, written);
    }
}
