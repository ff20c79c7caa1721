using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Rwkv.Onnx.Tokenization;

/// <summary>
/// The RWKV World tokenizer (manifest tokenizer kind <c>world</c>): 65,536 ids, id 0 being end of text, each other
/// id standing for a byte string from the vocabulary file <c>rwkv_vocab_v20230424.txt</c>. Text is encoded as UTF-8
/// (an unpaired surrogate becomes U+FFFD) and split by greedy longest match: at each position the longest
/// vocabulary entry that prefixes the remaining bytes is the next token.
/// </summary>
/// <remarks>
/// <para>
/// The vocabulary file has one line per token, <c>&lt;id&gt; &lt;Python literal&gt; &lt;byte length&gt;</c>; the literal is
/// a <c>str</c> (its UTF-8 bytes) or a <c>bytes</c> literal (for tokens that are not valid UTF-8), with Python's
/// escapes. Every literal is parsed exactly and checked against the byte length on its line.
/// </para>
/// <para>
/// Tokens may end inside a UTF-8 character. An <see cref="EncodedToken"/> then covers every character its bytes
/// touch, so neighbouring tokens can share a character in their <see cref="EncodedToken.Offset"/>. A token budget
/// (<see cref="EncodeSettings.MaxTokenCount"/>) stops at the last token boundary that is also a character boundary.
/// There is no normalizer and no pre-tokenizer. Ids 0 (end of text) and any id without a vocabulary line decode to
/// no bytes. The type is immutable and thread-safe.
/// </para>
/// </remarks>
public sealed class RwkvWorldTokenizer : ByteLevelTokenizer
{
    /// <summary>The tokenizer kind written in <see cref="RwkvTokenizerInfo.Kind"/> for World models.</summary>
    public const string Kind = "world";

    /// <summary>Number of ids of the World vocabulary, 65,536.</summary>
    public const int WorldVocabularySize = 65536;

    private readonly byte[] _bytes;          // every token's bytes, concatenated in id order
    private readonly int[] _offsets;         // token id i is _bytes[_offsets[i].._offsets[i + 1]]
    private readonly Dictionary<long, int> _children;   // (node << 8 | byte) -> child node; node 0 is the root
    private readonly int[] _nodeToken;       // token id ending at a node, or -1

    private RwkvWorldTokenizer(byte[] bytes, int[] offsets, Dictionary<long, int> children, int[] nodeToken)
    {
        _bytes = bytes;
        _offsets = offsets;
        _children = children;
        _nodeToken = nodeToken;
    }

    /// <summary>Always 0: the World vocabulary's end-of-text token.</summary>
    public override int? EndOfTextId => 0;

    /// <summary>Always <see cref="WorldVocabularySize"/>.</summary>
    public override int VocabularySize => WorldVocabularySize;

    /// <summary>Reads a World vocabulary file.</summary>
    /// <param name="vocabularyPath">Path of a file in the format of <c>rwkv_vocab_v20230424.txt</c>.</param>
    /// <returns>The tokenizer.</returns>
    /// <exception cref="ArgumentException"><paramref name="vocabularyPath"/> is null or empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">A line is malformed; the message names the file, the line and the problem.</exception>
    public static RwkvWorldTokenizer Create(string vocabularyPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(vocabularyPath);
        if (!File.Exists(vocabularyPath))
        {
            throw new FileNotFoundException($"World vocabulary file '{vocabularyPath}' does not exist.", vocabularyPath);
        }
        using FileStream stream = File.OpenRead(vocabularyPath);
        return Create(stream, $"'{vocabularyPath}'");
    }

    /// <summary>Reads a World vocabulary from a stream (UTF-8 text). The stream is left open.</summary>
    /// <param name="vocabularyStream">A readable stream positioned at the first line of the vocabulary.</param>
    /// <returns>The tokenizer.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="vocabularyStream"/> is null.</exception>
    /// <exception cref="InvalidDataException">A line is malformed; the message names the line and the problem.</exception>
    public static RwkvWorldTokenizer Create(Stream vocabularyStream)
    {
        ArgumentNullException.ThrowIfNull(vocabularyStream);
        return Create(vocabularyStream, "the vocabulary stream");
    }

    private static RwkvWorldTokenizer Create(Stream stream, string source)
    {
        var tokenBytes = new byte[WorldVocabularySize][];
        var scratch = new ArrayBufferWriter<byte>();
        using var reader = new StreamReader(stream, new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: false, leaveOpen: true);
        int lineNumber = 0;
        string? line;
        try
        {
            while ((line = reader.ReadLine()) is not null)
            {
                lineNumber++;
                if (line.Length == 0)
                {
                    continue;
                }
                (int id, byte[] bytes) = ParseLine(line, scratch, out string? error);
                if (error is not null)
                {
                    throw new InvalidDataException($"Line {lineNumber} of {source} is not a World vocabulary entry: {error}.");
                }
                if (tokenBytes[id] is not null)
                {
                    throw new InvalidDataException($"Line {lineNumber} of {source} defines token id {id} a second time.");
                }
                tokenBytes[id] = bytes;
            }
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException($"Line {lineNumber + 1} of {source} is not valid UTF-8.", e);
        }
        if (lineNumber == 0)
        {
            throw new InvalidDataException($"{Capitalize(source)} is empty; expected lines '<id> <Python literal> <byte length>'.");
        }
        return Build(tokenBytes);
    }

    // "<id> <literal> <length>": the literal may contain spaces, so the id is before the first space and the
    // length after the last.
    private static (int Id, byte[] Bytes) ParseLine(string line, ArrayBufferWriter<byte> scratch, out string? error)
    {
        error = null;
        int first = line.IndexOf(' ', StringComparison.Ordinal);
        int last = line.LastIndexOf(' ');
        if (first <= 0 || last <= first + 1)
        {
            error = "expected '<id> <Python literal> <byte length>'";
            return default;
        }
        if (!int.TryParse(line.AsSpan(0, first), NumberStyles.None, CultureInfo.InvariantCulture, out int id) || id < 1 || id >= WorldVocabularySize)
        {
            error = $"the id '{line[..first]}' is not an integer from 1 to {WorldVocabularySize - 1} (0 is end of text)";
            return default;
        }
        if (!int.TryParse(line.AsSpan(last + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int length))
        {
            error = $"the byte length '{line[(last + 1)..]}' is not an integer";
            return default;
        }
        scratch.ResetWrittenCount();
        if (!PythonLiteral.TryParse(line.AsSpan(first + 1, last - first - 1), scratch, out string? literalError))
        {
            error = $"the literal {line[(first + 1)..last]} of token {id} is invalid: {literalError}";
            return default;
        }
        if (scratch.WrittenCount != length)
        {
            error = $"the literal of token {id} stands for {scratch.WrittenCount} bytes but the line says {length}";
            return default;
        }
        if (length == 0)
        {
            error = $"token {id} is empty";
            return default;
        }
        return (id, scratch.WrittenSpan.ToArray());
    }

    private static RwkvWorldTokenizer Build(byte[][] tokenBytes)
    {
        int[] offsets = new int[WorldVocabularySize + 1];
        for (int id = 0; id < WorldVocabularySize; id++)
        {
            offsets[id + 1] = offsets[id] + (tokenBytes[id]?.Length ?? 0);
        }
        byte[] bytes = new byte[offsets[WorldVocabularySize]];
        var children = new Dictionary<long, int>();
        var nodeToken = new List<int> { -1 };
        for (int id = 0; id < WorldVocabularySize; id++)
        {
            byte[]? token = tokenBytes[id];
            if (token is null)
            {
                continue;
            }
            token.CopyTo(bytes, offsets[id]);
            int node = 0;
            foreach (byte b in token)
            {
                long key = ((long)node << 8) | b;
                if (!children.TryGetValue(key, out int child))
                {
                    child = nodeToken.Count;
                    nodeToken.Add(-1);
                    children.Add(key, child);
                }
                node = child;
            }
            nodeToken[node] = id;
        }
        return new RwkvWorldTokenizer(bytes, offsets, children, [.. nodeToken]);
    }

    /// <inheritdoc/>
    public override bool TryGetTokenBytes(int id, out ReadOnlySpan<byte> bytes)
    {
        if ((uint)id >= WorldVocabularySize)
        {
            bytes = default;
            return false;
        }
        bytes = _bytes.AsSpan(_offsets[id], _offsets[id + 1] - _offsets[id]);
        return true;
    }

    /// <summary>Encodes text to token ids into a new array.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The ids, by greedy longest match over the text's UTF-8 bytes.</returns>
    public int[] EncodeToArray(ReadOnlySpan<char> text)
    {
        var ids = new List<int>();
        Encode(Utf8Text.From(text), int.MaxValue, ids, ends: null);
        return [.. ids];
    }

    /// <inheritdoc/>
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.MaxTokenCount);
        ReadOnlySpan<char> input = text is null ? textSpan : text.AsSpan();
        Utf8Text utf8 = Utf8Text.From(input);
        var ids = new List<int>();
        var ends = new List<int>();
        int charsConsumed = EncodeWithBudget(utf8, settings.MaxTokenCount, ids, ends);
        var tokens = new List<EncodedToken>(ids.Count);
        int start = 0;
        for (int i = 0; i < ids.Count; i++)
        {
            // Every character the token's bytes touch.
            int firstChar = utf8.CharStart(start), endChar = utf8.CharEnd(ends[i]);
            tokens.Add(new EncodedToken(ids[i], input[firstChar..endChar].ToString(), new Range(firstChar, endChar)));
            start = ends[i];
        }
        return new EncodeResults<EncodedToken> { Tokens = tokens, NormalizedText = null, CharsConsumed = charsConsumed };
    }

    /// <inheritdoc/>
    protected override EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.MaxTokenCount);
        var ids = new List<int>();
        int charsConsumed = EncodeWithBudget(Utf8Text.From(text is null ? textSpan : text.AsSpan()), settings.MaxTokenCount, ids, new List<int>());
        return new EncodeResults<int> { Tokens = ids, NormalizedText = null, CharsConsumed = charsConsumed };
    }

    /// <inheritdoc/>
    protected override int CountTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.MaxTokenCount);
        var ids = new List<int>();
        EncodeWithBudget(Utf8Text.From(text is null ? textSpan : text.AsSpan()), settings.MaxTokenCount, ids, new List<int>());
        return ids.Count;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// From the end, the count is taken over the trailing tokens of the whole text's encoding, stopping at a token
    /// boundary that is also a character boundary (greedy matching is not suffix-stable, so encoding the suffix
    /// alone may differ slightly).
    /// </remarks>
    protected override int GetIndexByTokenCount(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings, bool fromEnd,
        out string? normalizedText, out int tokenCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.MaxTokenCount);
        normalizedText = null;
        Utf8Text utf8 = Utf8Text.From(text is null ? textSpan : text.AsSpan());
        var ids = new List<int>();
        var ends = new List<int>();
        if (!fromEnd)
        {
            int index = EncodeWithBudget(utf8, settings.MaxTokenCount, ids, ends);
            tokenCount = ids.Count;
            return index;
        }

        Encode(utf8, int.MaxValue, ids, ends);
        int charIndex = utf8.CharCount;
        tokenCount = 0;
        for (int taken = 1; taken <= Math.Min(settings.MaxTokenCount, ids.Count); taken++)
        {
            int startByte = ids.Count - taken == 0 ? 0 : ends[ids.Count - taken - 1];
            if (utf8.IsCharBoundary(startByte))
            {
                charIndex = utf8.CharStart(startByte);
                tokenCount = taken;
            }
        }
        return charIndex;
    }

    // Encodes up to maxTokens tokens, then drops trailing tokens until the last kept one ends on a character
    // boundary. Returns the number of characters the kept tokens cover.
    private int EncodeWithBudget(Utf8Text utf8, int maxTokens, List<int> ids, List<int> ends)
    {
        Encode(utf8, maxTokens, ids, ends);
        while (ids.Count > 0 && !utf8.IsCharBoundary(ends[^1]))
        {
            ids.RemoveAt(ids.Count - 1);
            ends.RemoveAt(ends.Count - 1);
        }
        return ids.Count == 0 ? 0 : utf8.CharStart(ends[^1]);
    }

    // Greedy longest match: from each position, walk the trie as far as the bytes allow and take the deepest node
    // that ends a token. Every single byte is a token, so a match always exists in a complete vocabulary.
    private void Encode(Utf8Text utf8, int maxTokens, List<int> ids, List<int>? ends)
    {
        ReadOnlySpan<byte> bytes = utf8.Bytes;
        int position = 0;
        while (position < bytes.Length && ids.Count < maxTokens)
        {
            int node = 0, bestToken = -1, bestEnd = position;
            for (int i = position; i < bytes.Length; i++)
            {
                if (!_children.TryGetValue(((long)node << 8) | bytes[i], out node))
                {
                    break;
                }
                if (_nodeToken[node] >= 0)
                {
                    bestToken = _nodeToken[node];
                    bestEnd = i + 1;
                }
            }
            if (bestToken < 0)
            {
                throw new InvalidOperationException(
                    $"The World vocabulary has no token for byte 0x{bytes[position]:X2}; a complete vocabulary has every single byte.");
            }
            ids.Add(bestToken);
            ends?.Add(bestEnd);
            position = bestEnd;
        }
    }

    private static string Capitalize(string s) => char.ToUpperInvariant(s[0]) + s[1..];
}
