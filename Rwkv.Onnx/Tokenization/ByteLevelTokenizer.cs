using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Rwkv.Onnx.Tokenization;

/// <summary>
/// Base of the RWKV tokenizers whose tokens stand for byte strings (byte-level, RWKV World, GPT-NeoX BPE):
/// a <see cref="Tokenizer"/> that decodes by concatenating each token's bytes and reading the result as UTF-8.
/// Derived types implement encoding and <see cref="TryGetTokenBytes"/>; decoding, including streaming
/// decoding through <see cref="CreateStreamingDecoder"/>, is shared.
/// </summary>
/// <remarks>Implementations are immutable and safe to use from several threads at once.</remarks>
public abstract class ByteLevelTokenizer : Tokenizer
{
    /// <summary>Number of token ids, <c>0</c> to <c>VocabularySize - 1</c>.</summary>
    public abstract int VocabularySize { get; }

    /// <summary>The id of the end-of-text token, which ends generation by default; null when the vocabulary has none (byte level).</summary>
    public virtual int? EndOfTextId => null;

    /// <summary>Gets the bytes that token <paramref name="id"/> stands for.</summary>
    /// <param name="id">The token id.</param>
    /// <param name="bytes">The token's bytes; valid for the tokenizer's lifetime. Empty when the id is unknown.</param>
    /// <returns><see langword="true"/> when <paramref name="id"/> is a token of this vocabulary.</returns>
    public abstract bool TryGetTokenBytes(int id, out ReadOnlySpan<byte> bytes);

    /// <summary>Creates a decoder that turns tokens into text one at a time, holding incomplete UTF-8 sequences between tokens.</summary>
    /// <returns>A new decoder; it belongs to one token stream and is not thread-safe.</returns>
    public StreamingDecoder CreateStreamingDecoder() => new(this);

    /// <summary>Decodes token ids to text. Byte sequences that are not valid UTF-8 become U+FFFD.</summary>
    /// <param name="ids">The token ids.</param>
    /// <returns>The decoded text.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="ids"/> is null.</exception>
    /// <exception cref="ArgumentException">An id is outside the vocabulary.</exception>
    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new ArrayBufferWriter<byte>();
        int position = 0;
        foreach (int id in ids)
        {
            bytes.Write(GetTokenBytesOrThrow(id, position, nameof(ids)));
            position++;
        }
        return Encoding.UTF8.GetString(bytes.WrittenSpan);
    }

    /// <summary>
    /// Decodes token ids into <paramref name="destination"/>. Byte sequences that are not valid UTF-8 become U+FFFD.
    /// When the destination is too small, decoding stops after the last token that ends on a character boundary
    /// and fits, so decoding can resume at <paramref name="idsConsumed"/>.
    /// </summary>
    /// <param name="ids">The token ids.</param>
    /// <param name="destination">Receives the text.</param>
    /// <param name="idsConsumed">How many ids were decoded into the first <paramref name="charsWritten"/> characters.</param>
    /// <param name="charsWritten">How many characters of <paramref name="destination"/> hold the text of the consumed ids.</param>
    /// <returns>
    /// <see cref="OperationStatus.Done"/>, <see cref="OperationStatus.DestinationTooSmall"/>, or
    /// <see cref="OperationStatus.InvalidData"/> when an id is outside the vocabulary.
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="ids"/> is null.</exception>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new ArrayBufferWriter<byte>();
        var tokenEnds = new List<int>();
        OperationStatus status = OperationStatus.Done;
        foreach (int id in ids)
        {
            if (!TryGetTokenBytes(id, out ReadOnlySpan<byte> tokenBytes))
            {
                status = OperationStatus.InvalidData;
                break;
            }
            bytes.Write(tokenBytes);
            tokenEnds.Add(bytes.WrittenCount);
        }

        // Walk the bytes rune by rune; a token boundary that coincides with a rune boundary is a resumable point.
        ReadOnlySpan<byte> utf8 = bytes.WrittenSpan;
        int bytePosition = 0, charPosition = 0, nextToken = 0;
        idsConsumed = 0;
        charsWritten = 0;
        while (nextToken < tokenEnds.Count && tokenEnds[nextToken] == 0)
        {
            idsConsumed = ++nextToken;   // tokens with no bytes
        }
        while (bytePosition < utf8.Length)
        {
            Rune.DecodeFromUtf8(utf8[bytePosition..], out Rune rune, out int runeBytes);   // invalid input yields U+FFFD
            if (!rune.TryEncodeToUtf16(destination[charPosition..], out int runeChars))
            {
                return OperationStatus.DestinationTooSmall;
            }
            bytePosition += runeBytes;
            charPosition += runeChars;
            while (nextToken < tokenEnds.Count && tokenEnds[nextToken] <= bytePosition)
            {
                nextToken++;
                if (tokenEnds[nextToken - 1] == bytePosition)
                {
                    idsConsumed = nextToken;
                    charsWritten = charPosition;
                }
            }
        }
        idsConsumed = tokenEnds.Count;
        charsWritten = charPosition;
        return status;
    }

    /// <summary>Returns the bytes of token <paramref name="id"/> or throws an <see cref="ArgumentException"/> naming it.</summary>
    /// <param name="id">The token id.</param>
    /// <param name="position">Position of the id in its sequence, for the message.</param>
    /// <param name="paramName">The argument that held the id.</param>
    /// <exception cref="ArgumentException">The id is outside the vocabulary.</exception>
    protected ReadOnlySpan<byte> GetTokenBytesOrThrow(int id, int position, string paramName)
    {
        if (!TryGetTokenBytes(id, out ReadOnlySpan<byte> bytes))
        {
            throw new ArgumentException(
                $"Token id {id} at position {position} is outside the vocabulary of {VocabularySize} tokens (valid ids are 0 to {VocabularySize - 1}).",
                paramName);
        }
        return bytes;
    }
}
