using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Tokenization;

public class GptNeoXTokenizerTests
{
    private static readonly Lazy<GptNeoXTokenizer> s_neox =
        new(() => GptNeoXTokenizer.Create(SharedFixtures.Tokenizer("20B_tokenizer.json")));

    private static GptNeoXTokenizer NeoX => s_neox.Value;

    // The reference ids come from Hugging Face `tokenizers` (the Rust library, through its Node binding
    // @anush008/tokenizers 0.6.0): Tokenizer.fromFile("20B_tokenizer.json").encode(text, null, { addSpecialTokens: false }).
    // The tokens it printed are given in the comments (byte-level alphabet: Ġ = space, Ċ = newline, ĉ = tab).
    private static IEnumerable<TestCaseData> HuggingFaceReferences()
    {
        // "Hello" "Ġworld"
        yield return new TestCaseData("Hello world", new[] { 12092, 1533 }).SetName("English");
        // "The" "Ġquick" "Ġbrown" "Ġfox" "Ġjumps" "Ġover" "Ġthe" "Ġlazy" "Ġdog" "."
        yield return new TestCaseData("The quick brown fox jumps over the lazy dog.",
            new[] { 510, 3158, 8516, 30013, 27287, 689, 253, 22658, 4370, 15 }).SetName("Sentence");
        // "a" "   " (added token 50275) "b": the space runs are added tokens matched before pre-tokenization.
        yield return new TestCaseData("a   b", new[] { 66, 50275, 67 }).SetName("SpaceRun");
        // "def" "Ġf" "(" "x" "):" "Ċ" "    " "return" "Ġx" "  " "#" "Ġok"
        yield return new TestCaseData("def f(x):\n    return x  # ok",
            new[] { 1545, 269, 9, 89, 2262, 187, 50274, 2309, 1269, 50276, 4, 8718 }).SetName("Code");
        // "<|endoftext|>" "hi": the special token is matched in the raw text.
        yield return new TestCaseData("<|endoftext|>hi", new[] { 0, 5801 }).SetName("EndOfText");
        // "ä½ł" "å¥½" "ï¼Į" "ä¸ĸ" "çķĮ"
        yield return new TestCaseData("你好，世界", new[] { 24553, 34439, 6238, 42848, 45261 }).SetName("Chinese");
        // "æĹ¥æľ¬" "èª" "ŀ" "ĠðŁĺ" "Ģ" "ĠcafÃ©": 語 and 😀 split across tokens.
        yield return new TestCaseData("日本語 😀 café", new[] { 49868, 19119, 241, 49042, 211, 36241 }).SetName("JapaneseEmoji");
        // "C" "af" "Ã©": NFC turns e + U+0301 into é first.
        yield return new TestCaseData("Cafe\u0301", new[] { 36, 2320, 860 }).SetName("Nfc");
        // "tabs" "ĉ" "ĉ" "and" "Ċ" "new" "lines" "ĊĊ"
        yield return new TestCaseData("tabs\t\tand\nnewlines\n\n", new[] { 33754, 186, 186, 395, 187, 1826, 8737, 535 }).SetName("Whitespace");
        // "it" "'s" "Ġ20" "24" "," "Ġisn" "'t" "Ġit" "?"
        yield return new TestCaseData("it's 2024, isn't it?", new[] { 262, 434, 1384, 1348, 13, 3548, 626, 352, 32 }).SetName("Contractions");
    }

    [TestCaseSource(nameof(HuggingFaceReferences))]
    public void EncodeToIds_MatchesHuggingFaceTokenizers(string text, int[] expected)
    {
        Assert.Multiple(() =>
        {
            Assert.That(NeoX.EncodeToIds(text), Is.EqualTo(expected));
            Assert.That(NeoX.EncodeToIds(text.AsSpan()), Is.EqualTo(expected));
            Assert.That(NeoX.CountTokens(text), Is.EqualTo(expected.Length));
        });
    }

    [Test]
    public void EncodeToIds_WholeWords_AreTheirVocabularyEntries()
    {
        // Independent of any tokenizer code: read the ids straight from the JSON vocabulary. Each of these words
        // is one pre-token and one vocabulary entry, so BPE must end with exactly that entry.
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(SharedFixtures.Tokenizer("20B_tokenizer.json")));
        JsonElement vocab = json.RootElement.GetProperty("model").GetProperty("vocab");
        int Id(string token) => vocab.GetProperty(token).GetInt32();
        Assert.Multiple(() =>
        {
            Assert.That(NeoX.EncodeToIds("Hello world"), Is.EqualTo(new[] { Id("Hello"), Id("Ġworld") }));
            Assert.That(NeoX.EncodeToIds("return x"), Is.EqualTo(new[] { Id("return"), Id("Ġx") }));
            Assert.That(NeoX.EncodeToIds("\n"), Is.EqualTo(new[] { Id("Ċ") }));
        });
    }

    [TestCase("Hello world")]
    [TestCase("日本語 😀 café\n\n    indented   spaces")]
    [TestCase("Привет, мир! Ελληνικά. 👨‍👩‍👧‍👦 🇫🇷")]
    [TestCase("<|endoftext|><|padding|>")]
    [TestCase("")]
    public void Decode_OfEncode_RoundTrips(string text)
    {
        Assert.That(NeoX.Decode(NeoX.EncodeToIds(text)), Is.EqualTo(text));
    }

    [Test]
    public void Properties_DescribeTheNeoXVocabulary()
    {
        Assert.Multiple(() =>
        {
            Assert.That(NeoX.VocabularySize, Is.EqualTo(50277));
            Assert.That(NeoX.EndOfTextId, Is.Zero);
            Assert.That(NeoX.AddedTokens, Has.Count.EqualTo(25));
            Assert.That(NeoX.AddedTokens["  "], Is.EqualTo(50276));
            Assert.That(NeoX.TryGetTokenBytes(1533, out ReadOnlySpan<byte> world) && world.SequenceEqual(" world"u8), Is.True);
            Assert.That(NeoX.TryGetTokenBytes(50277, out _), Is.False);
        });
    }

    [Test]
    public void StreamingDecoder_CharactersSplitAcrossTokens_AreHeldUntilComplete()
    {
        StreamingDecoder decoder = NeoX.CreateStreamingDecoder();
        string[] pieces = [.. NeoX.EncodeToIds("日本語 😀 café").Select(decoder.Append)];
        Assert.Multiple(() =>
        {
            // 49868 = 日本, 19119 = first two bytes of 語, 241 = its last byte, 49042 = space + 3 bytes of 😀, 211 = its last.
            Assert.That(pieces, Is.EqualTo(new[] { "日本", "", "語", " ", "😀", " café" }));
            Assert.That(decoder.Flush(), Is.Empty);
        });
    }

    [Test]
    public void EncodeToTokens_Normalization_ReportsNormalizedTextAndOffsetsIntoIt()
    {
        IReadOnlyList<EncodedToken> tokens = NeoX.EncodeToTokens("Cafe\u0301!", out string? normalized);
        Assert.Multiple(() =>
        {
            Assert.That(normalized, Is.EqualTo("Café!"));
            Assert.That(tokens[^1].Offset, Is.EqualTo(new Range(4, 5)));
            Assert.That(NeoX.EncodeToTokens("plain", out string? unchanged), Has.Count.GreaterThan(0));
            Assert.That(unchanged, Is.Null);
        });
    }

    [Test]
    public void EncodeToIds_TokenBudget_KeepsWholeTokensAndReportsCharsConsumed()
    {
        IReadOnlyList<int> ids = NeoX.EncodeToIds("Hello world again", 2, out _, out int charsConsumed);
        Assert.Multiple(() =>
        {
            Assert.That(ids, Is.EqualTo(new[] { 12092, 1533 }));
            Assert.That(charsConsumed, Is.EqualTo("Hello world".Length));
            Assert.That(NeoX.GetIndexByTokenCountFromEnd("Hello world again", 1, out _, out int count), Is.EqualTo("Hello world".Length));
            Assert.That(count, Is.EqualTo(1));
        });
    }

    [Test]
    public void Create_NotBpe_ThrowsNamingTheModelType()
    {
        const string Json = """{"model": {"type": "WordPiece", "vocab": {}}, "pre_tokenizer": {"type": "ByteLevel"}}""";
        Assert.That(() => GptNeoXTokenizer.Create(new MemoryStream(Encoding.UTF8.GetBytes(Json))),
            Throws.TypeOf<InvalidDataException>().With.Message.Contains("'WordPiece'").And.Message.Contains("'BPE'"));
    }

    [Test]
    public void Create_InvalidJson_ThrowsInvalidData()
    {
        Assert.That(() => GptNeoXTokenizer.Create(new MemoryStream("{ not json"u8.ToArray())),
            Throws.TypeOf<InvalidDataException>().With.Message.Contains("not valid JSON"));
    }
}
