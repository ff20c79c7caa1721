using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Export.Genai;

/// <summary>
/// Writes the Hugging Face <c>tokenizer.json</c> and <c>tokenizer_config.json</c> that onnxruntime-genai's tokenizer
/// (onnxruntime-extensions) reads, with the chat template of <see cref="ChatTemplate.ForTokenizerKind"/> in Jinja.
/// Byte level: a 256-token byte-level BPE without merges, so every byte is its own token, id = byte value, as
/// <see cref="ByteTokenizer"/> encodes. GPT-NeoX: the vocabulary's own <c>tokenizer.json</c>. RWKV World (greedy longest
/// match over bytes) has no tokenizer class in genai 0.20.0, and a BPE cannot express longest-match, so none is written:
/// genai then runs on token ids (<c>Generator.AppendTokens</c>, <c>GetSequence</c>).
/// </summary>
internal static class GenaiTokenizerFiles
{
    /// <summary>The tokenizer file genai reads.</summary>
    public const string TokenizerFile = "tokenizer.json";

    /// <summary>Its configuration (class, special tokens, chat template).</summary>
    public const string TokenizerConfigFile = "tokenizer_config.json";

    /// <summary>Whether genai can tokenize text of this kind (<c>bytes</c>, <c>neox</c>).</summary>
    public static bool Supports(string kind) => kind is ByteTokenizer.Kind or GptNeoXTokenizer.Kind;

    /// <summary>
    /// Writes both files for <paramref name="kind"/> into <paramref name="directory"/>; <paramref name="openNeoX"/> opens the
    /// GPT-NeoX <c>tokenizer.json</c> to copy (only read for <c>neox</c>).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="kind"/> is not supported.</exception>
    public static void Write(string directory, string kind, int? endOfText, Func<Stream>? openNeoX)
    {
        string target = Path.Combine(directory, TokenizerFile);
        string? endOfTextToken = null;
        switch (kind)
        {
            case ByteTokenizer.Kind:
                File.WriteAllText(target, ByteLevelTokenizerJson().ToJsonString() + "\n");
                break;
            case GptNeoXTokenizer.Kind when openNeoX is not null:
                using (Stream source = openNeoX())
                using (FileStream copy = File.Create(target))
                {
                    source.CopyTo(copy);
                }
                endOfTextToken = endOfText is null ? null : "<|endoftext|>";
                break;
            default:
                throw new ArgumentException($"onnxruntime-genai has no tokenizer for kind '{kind}'.", nameof(kind));
        }
        var config = new JsonObject
        {
            ["tokenizer_class"] = kind == GptNeoXTokenizer.Kind ? "GPTNeoXTokenizer" : "GPT2Tokenizer",
            ["add_bos_token"] = false,
            ["add_eos_token"] = false,
            ["add_prefix_space"] = false,
            ["clean_up_tokenization_spaces"] = false,
            ["model_max_length"] = GenaiConfig.ContextLength,
            ["chat_template"] = Jinja(ChatTemplate.ForTokenizerKind(kind)),
        };
        if (endOfTextToken is not null)
        {
            config["eos_token"] = endOfTextToken;
            config["bos_token"] = endOfTextToken;
        }
        File.WriteAllText(Path.Combine(directory, TokenizerConfigFile), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>
    /// The chat template as Jinja: the preamble once, each user message as <c>{UserPrefix}{content}{TurnSeparator}</c>,
    /// each assistant message as <c>{AssistantPrefix} {content}{TurnSeparator}</c>, then the assistant prefix when a reply is
    /// wanted: <see cref="ChatTemplate.FormatTurn"/>'s text for a single message. System messages go first as user text.
    /// </summary>
    public static string Jinja(ChatTemplate template)
    {
        var jinja = new StringBuilder();
        jinja.Append(Literal(template.Preamble ?? ""));
        jinja.Append("{% for message in messages %}");
        jinja.Append("{% if message['role'] == 'assistant' %}").Append(Literal(template.AssistantPrefix + " "))
            .Append("{{ message['content'] }}").Append(Literal(template.TurnSeparator));
        jinja.Append("{% else %}").Append(Literal(template.UserPrefix))
            .Append("{{ message['content'] }}").Append(Literal(template.TurnSeparator)).Append("{% endif %}");
        jinja.Append("{% endfor %}");
        jinja.Append("{% if add_generation_prompt %}").Append(Literal(template.AssistantPrefix)).Append("{% endif %}");
        return jinja.ToString();
    }

    // Text outside Jinja tags is copied as it is; only a literal "{" sequence would need escaping, which no template has.
    private static string Literal(string text) => text.Contains('{', StringComparison.Ordinal)
        ? throw new InvalidOperationException($"Chat template text '{text}' holds '{{'.")
        : text;

    // A byte-level BPE over GPT-2's byte alphabet with the 256 single bytes as its whole vocabulary and no merges.
    private static JsonObject ByteLevelTokenizerJson()
    {
        var vocab = new JsonObject();
        foreach ((char symbol, int b) in ByteAlphabet().Select((c, b) => (c, b)))
        {
            vocab[symbol.ToString()] = b;
        }
        JsonObject ByteLevel() => new() { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false };
        return new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(),
            ["normalizer"] = null,
            ["pre_tokenizer"] = ByteLevel(),
            ["post_processor"] = null,
            ["decoder"] = ByteLevel(),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false,
                ["byte_fallback"] = false,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray(),
            },
        };
    }

    // bytes_to_unicode() of GPT-2's encoder.py, indexed by byte: '!'..'~', '¡'..'¬' and '®'..'ÿ' stand for themselves,
    // the other 68 bytes, in increasing order, for U+0100, U+0101, ...
    private static char[] ByteAlphabet()
    {
        char[] symbols = new char[256];
        char next = '\u0100';
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            symbols[b] = printable ? (char)b : next++;
        }
        return symbols;
    }
}
