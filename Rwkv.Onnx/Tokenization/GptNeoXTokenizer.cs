using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Text.Unicode;
using Microsoft.ML.Tokenizers;

namespace Rwkv.Onnx.Tokenization;

/// <summary>
/// The GPT-NeoX-20B byte-level BPE tokenizer (manifest tokenizer kind <c>neox</c>) of the RWKV-4 Pile and Raven
/// models, read from a Hugging Face <c>tokenizer.json</c> such as <c>20B_tokenizer.json</c>. The BPE itself is
/// Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> (byte level, GPT-2 pre-tokenization regex); this type adds the
/// Hugging Face pipeline around it: added tokens (e.g. <c>&lt;|endoftext|&gt;</c> and the runs of 2 to 24 spaces)
/// matched leftmost-longest before pre-tokenization, and the <c>tokenizer.json</c> normalizer (NFC for NeoX).
/// </summary>
/// <remarks>
/// <para>
/// Encoding follows Hugging Face <c>tokenizers</c>: the text is split on the added tokens that are not normalized,
/// each remaining piece is normalized and split on the normalized added tokens, and what is left is pre-tokenized
/// with the GPT-2 regex and merged by BPE. No special tokens are added around the text. When normalization changes
/// the text, <see cref="EncodeResults{T}.NormalizedText"/> is the normalized text and offsets refer to it.
/// </para>
/// <para>
/// Decoding maps each token back to its bytes (added tokens, special ones included, to their UTF-8 text) and reads
/// them as UTF-8, so token-by-token decoding through <see cref="ByteLevelTokenizer.CreateStreamingDecoder"/> holds
/// characters split across tokens. The type is immutable and thread-safe.
/// </para>
/// </remarks>
public sealed class GptNeoXTokenizer : ByteLevelTokenizer
{
    /// <summary>The tokenizer kind written in <see cref="RwkvTokenizerInfo.Kind"/> for GPT-NeoX (Pile, Raven) models.</summary>
    public const string Kind = "neox";

    // The GPT-2 pre-tokenization pattern that Hugging Face's ByteLevel pre-tokenizer uses (use_regex = true).
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly BpeTokenizer _bpe;
    private readonly byte[][] _tokenBytes;
    private readonly AddedTokenMatcher _rawAddedTokens;
    private readonly AddedTokenMatcher _normalizedAddedTokens;
    private readonly NormalizationForm? _normalization;

    private GptNeoXTokenizer(BpeTokenizer bpe, byte[][] tokenBytes, IReadOnlyDictionary<string, int> addedTokens,
        AddedTokenMatcher rawAddedTokens, AddedTokenMatcher normalizedAddedTokens, NormalizationForm? normalization)
    {
        _bpe = bpe;
        _tokenBytes = tokenBytes;
        AddedTokens = addedTokens;
        _rawAddedTokens = rawAddedTokens;
        _normalizedAddedTokens = normalizedAddedTokens;
        _normalization = normalization;
        EndOfTextId = addedTokens.TryGetValue("<|endoftext|>", out int id) ? id : null;
    }

    /// <summary>One more than the largest token id (50,277 for GPT-NeoX-20B).</summary>
    public override int VocabularySize => _tokenBytes.Length;

    /// <summary>The added tokens of <c>tokenizer.json</c> by content, e.g. <c>&lt;|endoftext|&gt;</c> = 0.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens { get; }

    /// <summary>The id of <c>&lt;|endoftext|&gt;</c>, or null when the file has no such added token.</summary>
    public override int? EndOfTextId { get; }

    /// <summary>Reads a Hugging Face <c>tokenizer.json</c> with a byte-level BPE model.</summary>
    /// <param name="tokenizerJsonPath">Path of the file, e.g. <c>20B_tokenizer.json</c>.</param>
    /// <returns>The tokenizer.</returns>
    /// <exception cref="ArgumentException"><paramref name="tokenizerJsonPath"/> is null or empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not valid JSON or describes a tokenizer this type does not implement.</exception>
    public static GptNeoXTokenizer Create(string tokenizerJsonPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(tokenizerJsonPath);
        if (!File.Exists(tokenizerJsonPath))
        {
            throw new FileNotFoundException($"Tokenizer file '{tokenizerJsonPath}' does not exist.", tokenizerJsonPath);
        }
        using FileStream stream = File.OpenRead(tokenizerJsonPath);
        return Create(stream, $"'{tokenizerJsonPath}'");
    }

    /// <summary>Reads a Hugging Face <c>tokenizer.json</c> from a stream. The stream is left open.</summary>
    /// <param name="tokenizerJsonStream">A readable stream holding the JSON.</param>
    /// <returns>The tokenizer.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="tokenizerJsonStream"/> is null.</exception>
    /// <exception cref="InvalidDataException">The JSON is invalid or describes a tokenizer this type does not implement.</exception>
    public static GptNeoXTokenizer Create(Stream tokenizerJsonStream)
    {
        ArgumentNullException.ThrowIfNull(tokenizerJsonStream);
        return Create(tokenizerJsonStream, "the tokenizer stream");
    }

    private static GptNeoXTokenizer Create(Stream stream, string source)
    {
        // JsonDocument checks the UTF-8 of names and strings only when they are read (and then throws
        // InvalidOperationException), so the whole text is checked first.
        var bytes = new MemoryStream();
        stream.CopyTo(bytes);
        if (!Utf8.IsValid(bytes.GetBuffer().AsSpan(0, (int)bytes.Length)))
        {
            throw new InvalidDataException($"Tokenizer {source} is not valid UTF-8 text.");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes.GetBuffer().AsMemory(0, (int)bytes.Length), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Tokenizer {source} is not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            return FromJson(document.RootElement, source);
        }
    }

    private static GptNeoXTokenizer FromJson(JsonElement root, string source)
    {
        JsonElement model = Required(root, "model", JsonValueKind.Object, source);
        string? modelType = OptionalString(model, "type");
        if (modelType != "BPE")
        {
            throw new InvalidDataException($"Tokenizer {source} has model type '{modelType}'; expected 'BPE'.");
        }
        foreach (string unsupported in new[] { "dropout", "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (model.TryGetProperty(unsupported, out JsonElement value) && value.ValueKind != JsonValueKind.Null)
            {
                throw new InvalidDataException($"Tokenizer {source} sets model.{unsupported} to {value.GetRawText()}; only null is supported.");
            }
        }
        RequireByteLevel(root, "pre_tokenizer", source);
        NormalizationForm? normalization = ReadNormalizer(root, source);

        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        var ids = new HashSet<int>();
        foreach (JsonProperty entry in Required(model, "vocab", JsonValueKind.Object, source).EnumerateObject())
        {
            int id = Id(entry.Value, $"vocabulary entry '{entry.Name}'", source);
            vocabulary[entry.Name] = ids.Add(id) ? id : throw new InvalidDataException($"Tokenizer {source} gives vocabulary entry '{entry.Name}' the id {id}, which another entry has.");
        }
        var merges = new List<string>();
        foreach (JsonElement merge in Required(model, "merges", JsonValueKind.Array, source).EnumerateArray())
        {
            // Older files write "a b", newer ones ["a", "b"].
            merges.Add(merge switch
            {
                { ValueKind: JsonValueKind.String } => merge.GetString()!, // ValueKind is String
                { ValueKind: JsonValueKind.Array } when merge.GetArrayLength() == 2 && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String
                    => $"{merge[0].GetString()} {merge[1].GetString()}",
                _ => throw new InvalidDataException($"Tokenizer {source} has the merge {merge.GetRawText()}; expected \"a b\" or [\"a\", \"b\"]."),
            });
        }

        var added = new List<(string Content, int Id, bool Normalized)>();
        if (root.TryGetProperty("added_tokens", out JsonElement addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement token in addedTokens.EnumerateArray())
            {
                string content = (token.ValueKind == JsonValueKind.Object ? OptionalString(token, "content") : null)
                    ?? throw new InvalidDataException($"Tokenizer {source} has the added token {token.GetRawText()} without a string 'content'.");
                foreach (string flag in new[] { "lstrip", "rstrip", "single_word" })
                {
                    if (token.TryGetProperty(flag, out JsonElement f) && f.ValueKind == JsonValueKind.True)
                    {
                        throw new InvalidDataException($"Tokenizer {source}: added token '{content}' sets {flag}, which is not supported.");
                    }
                }
                bool normalized = token.TryGetProperty("normalized", out JsonElement n) && n.ValueKind == JsonValueKind.True;
                added.Add((content, Id(token.TryGetProperty("id", out JsonElement id) ? id : default, $"added token '{content}'", source), normalized));
            }
        }

        BpeTokenizer bpe;
        try
        {
            bpe = BpeTokenizer.Create(new BpeOptions(vocabulary)
            {
                Merges = merges,
                ByteLevel = true,
                PreTokenizer = new RegexPreTokenizer(new Regex(Gpt2Pattern, RegexOptions.Compiled), null),
            });
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            throw new InvalidDataException($"Tokenizer {source} has an inconsistent BPE model: {e.Message}", e);
        }

        long largest = Math.Max(vocabulary.Count == 0 ? 0 : vocabulary.Values.Max(), added.Count == 0 ? 0 : added.Max(a => a.Id));
        if (largest >= (2L * (vocabulary.Count + added.Count)) + 1024)
        {
            // Ids index a table; a few tokens with a huge id would size it from the file's word, not its contents.
            throw new InvalidDataException($"Tokenizer {source} has token id {largest} for only {vocabulary.Count + added.Count} tokens; ids must be nearly dense.");
        }
        int size = (int)largest + 1;
        var tokenBytes = new byte[size][];
        foreach ((string token, int id) in vocabulary)
        {
            tokenBytes[id] = ByteLevelAlphabet.ToBytes(token)
                ?? throw new InvalidDataException($"Tokenizer {source}: vocabulary entry '{token}' (id {id}) has a character outside the byte-level alphabet.");
        }
        foreach ((string content, int id, _) in added)
        {
            tokenBytes[id] = Encoding.UTF8.GetBytes(content);
        }
        for (int id = 0; id < size; id++)
        {
            tokenBytes[id] ??= [];
        }

        return new GptNeoXTokenizer(bpe, tokenBytes,
            added.ToDictionary(a => a.Content, a => a.Id, StringComparer.Ordinal),
            new AddedTokenMatcher(added.Where(a => !a.Normalized).Select(a => (a.Content, a.Id))),
            new AddedTokenMatcher(added.Where(a => a.Normalized).Select(a => (a.Content, a.Id))),
            normalization);
    }

    /// <inheritdoc/>
    public override bool TryGetTokenBytes(int id, out ReadOnlySpan<byte> bytes)
    {
        if ((uint)id >= (uint)_tokenBytes.Length)
        {
            bytes = default;
            return false;
        }
        bytes = _tokenBytes[id];
        return true;
    }

    /// <inheritdoc/>
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.MaxTokenCount);
        (List<EncodedToken> tokens, string? normalized, int length) = EncodeAll(text is null ? textSpan : text.AsSpan(), settings.ConsiderNormalization);
        int kept = KeepWithinBudget(tokens, settings.MaxTokenCount, length, out int charsConsumed);
        tokens.RemoveRange(kept, tokens.Count - kept);
        return new EncodeResults<EncodedToken> { Tokens = tokens, NormalizedText = normalized, CharsConsumed = charsConsumed };
    }

    /// <inheritdoc/>
    protected override EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        EncodeResults<EncodedToken> tokens = EncodeToTokens(text, textSpan, settings);
        return new EncodeResults<int>
        {
            Tokens = [.. tokens.Tokens.Select(t => t.Id)],
            NormalizedText = tokens.NormalizedText,
            CharsConsumed = tokens.CharsConsumed,
        };
    }

    /// <inheritdoc/>
    protected override int CountTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings) =>
        EncodeToTokens(text, textSpan, settings).Tokens.Count;

    /// <inheritdoc/>
    /// <remarks>From the end, the count is taken over the trailing tokens of the whole text's encoding.</remarks>
    protected override int GetIndexByTokenCount(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings, bool fromEnd,
        out string? normalizedText, out int tokenCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.MaxTokenCount);
        (List<EncodedToken> tokens, normalizedText, int length) = EncodeAll(text is null ? textSpan : text.AsSpan(), settings.ConsiderNormalization);
        if (!fromEnd)
        {
            tokenCount = KeepWithinBudget(tokens, settings.MaxTokenCount, length, out int charsConsumed);
            return charsConsumed;
        }
        int index = length;
        tokenCount = 0;
        for (int taken = 1; taken <= Math.Min(settings.MaxTokenCount, tokens.Count); taken++)
        {
            int first = tokens.Count - taken;
            // A cut is clean when no character is shared with the token before.
            if (first == 0 || tokens[first - 1].Offset.End.Value <= tokens[first].Offset.Start.Value)
            {
                index = first == 0 ? 0 : tokens[first].Offset.Start.Value;
                tokenCount = taken;
            }
        }
        return index;
    }

    // The longest prefix of at most maxTokens tokens that ends where the next token starts a new character.
    private static int KeepWithinBudget(List<EncodedToken> tokens, int maxTokens, int textLength, out int charsConsumed)
    {
        if (tokens.Count <= maxTokens)
        {
            charsConsumed = textLength;
            return tokens.Count;
        }
        for (int kept = maxTokens; kept > 0; kept--)
        {
            if (tokens[kept - 1].Offset.End.Value <= tokens[kept].Offset.Start.Value)
            {
                charsConsumed = tokens[kept - 1].Offset.End.Value;
                return kept;
            }
        }
        charsConsumed = 0;
        return 0;
    }

    // The Hugging Face pipeline: raw added tokens, then per piece normalization, normalized added tokens and BPE.
    // Returns the tokens with offsets into the normalized text, that text (null when unchanged) and its length.
    private (List<EncodedToken> Tokens, string? NormalizedText, int Length) EncodeAll(ReadOnlySpan<char> input, bool considerNormalization)
    {
        var tokens = new List<EncodedToken>();
        var normalizedText = new StringBuilder(input.Length);
        NormalizationForm? form = considerNormalization ? _normalization : null;
        foreach ((int start, int length, int id) in _rawAddedTokens.Split(input))
        {
            ReadOnlySpan<char> piece = input.Slice(start, length);
            if (id >= 0)
            {
                tokens.Add(new EncodedToken(id, piece.ToString(), new Range(normalizedText.Length, normalizedText.Length + length)));
                normalizedText.Append(piece);
                continue;
            }
            string normalized = form is { } f ? piece.ToString().Normalize(f) : piece.ToString();
            int pieceOffset = normalizedText.Length;
            normalizedText.Append(normalized);
            foreach ((int subStart, int subLength, int subId) in _normalizedAddedTokens.Split(normalized))
            {
                int offset = pieceOffset + subStart;
                if (subId >= 0)
                {
                    tokens.Add(new EncodedToken(subId, normalized.Substring(subStart, subLength), new Range(offset, offset + subLength)));
                    continue;
                }
                foreach (EncodedToken token in _bpe.EncodeToTokens(normalized.AsSpan(subStart, subLength), out _, considerPreTokenization: true, considerNormalization: false))
                {
                    tokens.Add(new EncodedToken(token.Id, token.Value,
                        new Range(offset + token.Offset.Start.Value, offset + token.Offset.End.Value)));
                }
            }
        }
        string result = normalizedText.ToString();
        return (tokens, input.SequenceEqual(result) ? null : result, result.Length);
    }

    private static JsonElement Required(JsonElement parent, string name, JsonValueKind kind, string source) =>
        parent.TryGetProperty(name, out JsonElement value) && value.ValueKind == kind
            ? value
            : throw new InvalidDataException($"Tokenizer {source} has no {kind.ToString().ToLowerInvariant()} '{name}'.");

    // The string property `name` of an object, or null when it is absent or not a string.
    private static string? OptionalString(JsonElement element, string name) =>
        element.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    // A token id: a JSON integer from 0 to int.MaxValue.
    private static int Id(JsonElement value, string what, string source) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int id) && id >= 0
            ? id
            : throw new InvalidDataException($"Tokenizer {source} gives {what} the id {(value.ValueKind == JsonValueKind.Undefined ? "(none)" : value.GetRawText())}; expected an integer from 0 to {int.MaxValue}.");

    private static void RequireByteLevel(JsonElement root, string name, string source)
    {
        JsonElement element = Required(root, name, JsonValueKind.Object, source);
        string? type = OptionalString(element, "type");
        if (type != "ByteLevel")
        {
            throw new InvalidDataException($"Tokenizer {source} has {name} type '{type}'; expected 'ByteLevel'.");
        }
        if (element.TryGetProperty("add_prefix_space", out JsonElement prefix) && prefix.ValueKind == JsonValueKind.True)
        {
            throw new InvalidDataException($"Tokenizer {source} sets {name}.add_prefix_space, which is not supported.");
        }
        if (element.TryGetProperty("use_regex", out JsonElement regex) && regex.ValueKind == JsonValueKind.False)
        {
            throw new InvalidDataException($"Tokenizer {source} sets {name}.use_regex to false, which is not supported.");
        }
    }

    private static NormalizationForm? ReadNormalizer(JsonElement root, string source)
    {
        if (!root.TryGetProperty("normalizer", out JsonElement normalizer) || normalizer.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        string? type = normalizer.ValueKind == JsonValueKind.Object ? OptionalString(normalizer, "type") : null;
        return type switch
        {
            "NFC" => NormalizationForm.FormC,
            "NFD" => NormalizationForm.FormD,
            "NFKC" => NormalizationForm.FormKC,
            "NFKD" => NormalizationForm.FormKD,
            _ => throw new InvalidDataException($"Tokenizer {source} has normalizer type '{type}'; supported: NFC, NFD, NFKC, NFKD or none."),
        };
    }
}
