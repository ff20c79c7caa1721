using System.Text;
using System.Text.Json;

namespace Rwkv.Onnx.Tests.Fixtures;

/// <summary>Small tokenizer files written by the tests, for models whose vocabulary is 256.</summary>
internal static class TinyTokenizers
{
    /// <summary>
    /// Writes a Hugging Face <c>tokenizer.json</c> whose BPE vocabulary is the 256 characters of GPT-2's byte-level
    /// alphabet with id = byte value and no merges, so it tokenizes like the byte tokenizer of the tiny models.
    /// </summary>
    public static string WriteByteLevelBpeJson(string path)
    {
        // GPT-2 bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 to U+0100 upwards.
        var vocab = new Dictionary<string, int>();
        int next = 0x100;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            vocab[((char)(printable ? b : next++)).ToString()] = b;
        }
        var json = new
        {
            version = "1.0",
            added_tokens = Array.Empty<object>(),
            normalizer = (object?)null,
            pre_tokenizer = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true },
            decoder = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true },
            model = new { type = "BPE", dropout = (object?)null, unk_token = (object?)null, vocab, merges = Array.Empty<string>() },
        };
        File.WriteAllText(path, JsonSerializer.Serialize(json), new UTF8Encoding(false));
        return path;
    }
}
