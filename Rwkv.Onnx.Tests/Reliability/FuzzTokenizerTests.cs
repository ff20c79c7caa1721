using System.Text;
using System.Text.Json.Nodes;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Reliability;

/// <summary>
/// Fuzzes the tokenizer files a model directory may bring: the RWKV World vocabulary (<see cref="RwkvWorldTokenizer"/>)
/// and a Hugging Face <c>tokenizer.json</c> (<see cref="GptNeoXTokenizer"/>). Loading may only fail with
/// <see cref="InvalidDataException"/>; what loads must then encode and decode a sample text.
/// </summary>
[TestFixture]
public sealed class FuzzTokenizerTests
{
    private const string Sample = "Hello, wörld! 你好 \t\n the end <|endoftext|>";

    [Test]
    public void WorldVocabulary_Bytes_OnlyInvalidDataException()
    {
        string[] lines = File.ReadAllLines(SharedFixtures.Tokenizer("rwkv_vocab_v20230424.txt"));
        string text = string.Join("\n", lines.Take(256).Concat(lines.Skip(256).Where((_, i) => i % 300 == 0))) + "\n";
        byte[] seed = Encoding.UTF8.GetBytes(text);
        int[] lineStarts = [.. FuzzHarness.Occurrences(seed, "\n"u8).Select(i => i + 1).Where((_, i) => i % 5 == 0)];

        FuzzHarness.Run("World vocabulary", FuzzHarness.Mutate(seed, FuzzHarness.Count(1500), 1001, lineStarts), c =>
        {
            RwkvWorldTokenizer tokenizer = RwkvWorldTokenizer.Create(new MemoryStream(c.Bytes));
            for (int id = 0; id < tokenizer.VocabularySize; id++)
            {
                tokenizer.TryGetTokenBytes(id, out _);
            }
            try
            {
                tokenizer.Decode(tokenizer.EncodeToIds(Sample));
            }
            catch (InvalidOperationException e) when (e.Message.Contains("has no token for byte", StringComparison.Ordinal))
            {
                // Documented: a vocabulary without every single byte cannot encode every text.
            }
        }, typeof(InvalidDataException));
    }

    [Test]
    public void TokenizerJson_BytesAndJson_OnlyInvalidDataException()
    {
        string path = Path.Combine(Path.GetTempPath(), $"fuzz-tokenizer-{Guid.NewGuid():N}.json");
        try
        {
            TinyTokenizers.WriteByteLevelBpeJson(path);
            JsonNode root = JsonNode.Parse(File.ReadAllText(path))!;
            root["model"]!["vocab"]!["th"] = 256;
            root["model"]!["merges"] = new JsonArray("t h", new JsonArray("th", "e"));
            root["model"]!["vocab"]!["the"] = 257;
            root["added_tokens"] = JsonNode.Parse("""[{"id": 258, "content": "<|endoftext|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}]""");
            root["normalizer"] = JsonNode.Parse("""{"type": "NFC"}""");
            string seed = root.ToJsonString();
            Assert.That(GptNeoXTokenizer.Create(new MemoryStream(Encoding.UTF8.GetBytes(seed))).EncodeToIds("the"), Is.EqualTo(new[] { 257 }), "the seed must be valid");

            IEnumerable<FuzzCase> cases = FuzzSeeds.MutateJson(seed, FuzzHarness.Count(600), 1101)
                .Concat(FuzzHarness.Mutate(Encoding.UTF8.GetBytes(seed), FuzzHarness.Count(300), 1102));
            FuzzHarness.Run("tokenizer.json", cases, c =>
            {
                GptNeoXTokenizer tokenizer = GptNeoXTokenizer.Create(new MemoryStream(c.Bytes));
                tokenizer.Decode(tokenizer.EncodeToIds(Sample));
            }, typeof(InvalidDataException));
        }
        finally
        {
            File.Delete(path);
        }
    }
    // Each found by the fuzzer as an InvalidOperationException, IndexOutOfRangeException, OverflowException,
    // FormatException or ArgumentException escaping GptNeoXTokenizer.Create, or a table sized from a declared id.
    [TestCase("\"th\":256", "\"th\":2147483647", "id 2147483647 for only", TestName = "TokenizerJson_HugeTokenId_IsRefusedNotAllocated")]
    [TestCase("\"th\":256", "\"th\":-2147483648", "the id -2147483648; expected an integer", TestName = "TokenizerJson_NegativeTokenId_IsInvalidData")]
    [TestCase("\"th\":256", "\"th\":1e400", "the id 1e400", TestName = "TokenizerJson_NonIntegerTokenId_IsInvalidData")]
    [TestCase("\"th\":256", "\"th\":0", "the id 0, which another entry has", TestName = "TokenizerJson_DuplicateTokenId_IsInvalidData")]
    [TestCase("\"t h\"", "[1, 2, 3]", "has the merge [1, 2, 3]", TestName = "TokenizerJson_MergeOfNumbers_IsInvalidData")]
    [TestCase("{\"type\":\"NFC\"}", "{\"type\":7}", "normalizer type ''", TestName = "TokenizerJson_NumericNormalizerType_IsInvalidData")]
    [TestCase("[{\"id\":258", "[{\"idx\":258", "added token '<|endoftext|>' the id (none)", TestName = "TokenizerJson_AddedTokenWithoutId_IsInvalidData")]
    public void TokenizerJson_Corrupt_InvalidDataExceptionSayingWhat(string find, string replace, string expected)
    {
        string path = Path.Combine(Path.GetTempPath(), $"fuzz-tokenizer-{Guid.NewGuid():N}.json");
        try
        {
            TinyTokenizers.WriteByteLevelBpeJson(path);
            JsonNode root = JsonNode.Parse(File.ReadAllText(path))!;
            root["model"]!["vocab"]!["th"] = 256;
            root["model"]!["merges"] = new JsonArray("t h");
            root["added_tokens"] = JsonNode.Parse("""[{"id":258,"content":"<|endoftext|>","normalized":false}]""");
            root["normalizer"] = JsonNode.Parse("""{"type":"NFC"}""");
            string json = root.ToJsonString();
            Assert.That(json, Does.Contain(find));

            var e = Assert.Throws<InvalidDataException>(() => GptNeoXTokenizer.Create(new MemoryStream(Encoding.UTF8.GetBytes(json.Replace(find, replace, StringComparison.Ordinal)))));

            Assert.That(e!.Message, Does.StartWith("Tokenizer the tokenizer stream").And.Contain(expected));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void TokenizerJson_InvalidUtf8InAName_IsInvalidData()
    {
        byte[] json = [.. "{\"model\": {\"type\": \"BPE\", \"vocab\": {\""u8, 0xC3, 0x28, .. "\": 0}, \"merges\": []}}"u8];

        var e = Assert.Throws<InvalidDataException>(() => GptNeoXTokenizer.Create(new MemoryStream(json)));

        Assert.That(e!.Message, Does.Contain("is not valid UTF-8"));
    }

    [TestCase("99999999999 'a' 1", "is not an integer from 1 to 65535", TestName = "WorldVocabulary_IdBeyondInt_IsInvalidData")]
    [TestCase("5 'a' 99999999999", "the byte length '99999999999' is not an integer", TestName = "WorldVocabulary_LengthBeyondInt_IsInvalidData")]
    [TestCase("5 '\\U0011ffff' 4", "not a Unicode scalar value", TestName = "WorldVocabulary_EscapeBeyondUnicode_IsInvalidData")]
    [TestCase("5 b'\\777' 1", "escape value 511, above 255", TestName = "WorldVocabulary_OctalByteAbove255_IsInvalidData")]
    [TestCase("5 '\\' 1", "lone backslash", TestName = "WorldVocabulary_LoneBackslash_IsInvalidData")]
    public void WorldVocabulary_Corrupt_InvalidDataExceptionNamingTheLine(string line, string expected)
    {
        byte[] text = Encoding.UTF8.GetBytes("1 'a' 1\n" + line + "\n");

        var e = Assert.Throws<InvalidDataException>(() => RwkvWorldTokenizer.Create(new MemoryStream(text)));

        Assert.That(e!.Message, Does.StartWith("Line 2 of the vocabulary stream").And.Contain(expected));
    }
}
