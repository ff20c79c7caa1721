using System.Text;
using Microsoft.ML.Tokenizers;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Tokenization;

public class RwkvWorldTokenizerTests
{
    private static readonly Lazy<RwkvWorldTokenizer> s_world =
        new(() => RwkvWorldTokenizer.Create(SharedFixtures.Tokenizer("rwkv_vocab_v20230424.txt")));

    private static RwkvWorldTokenizer World => s_world.Value;

    // Every vocabulary entry as a hex string, and the longest entry's length.
    private static readonly Lazy<(HashSet<string> Entries, int Longest)> s_entries = new(() =>
    {
        var entries = new HashSet<string>(StringComparer.Ordinal);
        int longest = 0;
        for (int id = 1; id < World.VocabularySize; id++)
        {
            World.TryGetTokenBytes(id, out ReadOnlySpan<byte> bytes);
            if (!bytes.IsEmpty)
            {
                entries.Add(Convert.ToHexString(bytes));
                longest = Math.Max(longest, bytes.Length);
            }
        }
        return (entries, longest);
    });

    // Reference tokenizations derived by hand from the vocabulary file. For each string, the lines of
    // rwkv_vocab_v20230424.txt that give the tokens are quoted; at each position, the quoted entry is the longest one
    // that prefixes the remaining bytes (checked by searching the file for every longer prefix: none exists).
    private static IEnumerable<TestCaseData> References()
    {
        // 33155 'Hello' 5 | 40213 ' world' 6     (no entry starts with 'Hello ', and ' world' is the whole rest)
        yield return new TestCaseData("Hello world", new[] { 33155, 40213 }).SetName("English");
        // 10464 '你' 3 | 11685 '好' 3 | 19137 '，' 3 | 10267 '世' 3 | 14610 '界' 3
        // (no entries '你好', '好，', '，世', '世界': each character is its own token)
        yield return new TestCaseData("你好，世界", new[] { 10464, 11685, 19137, 10267, 14610 }).SetName("Chinese");
        // 10115 'こ' 3 | 10165 'ん' 3 | 10136 'に' 3 | 10127 'ち' 3 | 10139 'は' 3 | 10267 '世' 3 | 14610 '界' 3
        yield return new TestCaseData("こんにちは世界", new[] { 10115, 10165, 10136, 10127, 10139, 10267, 14610 }).SetName("Japanese");
        // 7334 'def' 3 | 31356 ' main' 5 | 5268 '():' 3 | 28352 '\n    ' 5 | 42178 'return' 6 | 283 ' 0' 2
        yield return new TestCaseData("def main():\n    return 0", new[] { 7334, 31356, 5268, 28352, 42178, 283 }).SetName("Code");
        // "I ❤️ 😀!" = I, space, U+2764, U+FE0F, space, U+1F600 (F0 9F 98 80), !
        // 74 'I' 1 | 22967 ' ❤' 4 | 19103 '️' 3 (U+FE0F) | 33 ' ' 1 | 3319 b'\xf0\x9f' 2 | 153 b'\x98' 1 | 129 b'\x80' 1 | 34 '!' 1
        // The emoji has no token: its bytes split into a bytes-literal pair and two single bytes.
        yield return new TestCaseData("I ❤️ 😀!", new[] { 74, 22967, 19103, 33, 3319, 153, 129, 34 }).SetName("Emoji");
        // 36127 'été' 5  (a whole word, two 2-byte characters)
        yield return new TestCaseData("été", new[] { 36127 }).SetName("Accents");
    }

    private static readonly string[] s_multilingual =
    [
        "Hello world! The quick brown fox jumps over the lazy dog.",
        "你好，世界！今天天气很好，我们去公园散步吧。",
        "こんにちは世界。東京は日本の首都です。カタカナとひらがな。",
        "using System;\n\nclass Program\n{\n    static void Main() => Console.WriteLine(\"hi\\n\");\n}\n",
        "Emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️‍🔥",
        "Привет, мир! Ελληνικά. العربية. हिन्दी. 한국어.",
        "\t\ttabs\r\nand \u00a0 odd\u200b spaces\u3000",
        "",
    ];

    [TestCaseSource(nameof(References))]
    public void EncodeToIds_MatchesHandDerivedReference(string text, int[] expected)
    {
        Assert.Multiple(() =>
        {
            Assert.That(World.EncodeToIds(text), Is.EqualTo(expected));
            Assert.That(World.EncodeToIds(text.AsSpan()), Is.EqualTo(expected));
            Assert.That(World.EncodeToArray(text), Is.EqualTo(expected));
            Assert.That(World.CountTokens(text), Is.EqualTo(expected.Length));
            Assert.That(World.Decode(expected), Is.EqualTo(text));
        });
    }

    [TestCaseSource(nameof(s_multilingual))]
    public void Decode_OfEncode_RoundTrips(string text)
    {
        Assert.That(World.Decode(World.EncodeToIds(text)), Is.EqualTo(text));
    }

    [TestCaseSource(nameof(s_multilingual))]
    public void EncodeToIds_EveryTokenIsTheLongestVocabularyEntryPrefixingTheRest(string text)
    {
        // The greedy-longest-match property, checked against the vocabulary as a set of byte strings.
        (HashSet<string> entries, int longest) = s_entries.Value;

        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        int position = 0;
        foreach (int id in World.EncodeToIds(text))
        {
            World.TryGetTokenBytes(id, out ReadOnlySpan<byte> token);
            Assert.That(utf8.AsSpan(position).StartsWith(token) && !token.IsEmpty, Is.True, $"token {id} at byte {position} does not prefix the rest");
            for (int length = Math.Min(longest, utf8.Length - position); length > token.Length; length--)
            {
                Assert.That(entries.Contains(Convert.ToHexString(utf8, position, length)), Is.False,
                    $"a longer entry ({length} bytes) than token {id} ({token.Length} bytes) prefixes the rest at byte {position}");
            }
            position += token.Length;
        }
        Assert.That(position, Is.EqualTo(utf8.Length));
    }

    [Test]
    public void Create_RealVocabulary_HasEveryLineAndEverySingleByte()
    {
        int nonEmpty = 0;
        for (int id = 0; id < World.VocabularySize; id++)
        {
            World.TryGetTokenBytes(id, out ReadOnlySpan<byte> bytes);
            nonEmpty += bytes.IsEmpty ? 0 : 1;
        }
        Assert.Multiple(() =>
        {
            Assert.That(World.VocabularySize, Is.EqualTo(65536));
            Assert.That(nonEmpty, Is.EqualTo(65529), "one token per line of the file");
            // Lines 1..256 are the single bytes 0x00..0xFF ('\x00' ... b'\xff').
            for (int b = 0; b < 256; b++)
            {
                World.TryGetTokenBytes(b + 1, out ReadOnlySpan<byte> bytes);
                Assert.That(bytes.ToArray(), Is.EqualTo(new[] { (byte)b }), $"token {b + 1}");
            }
        });
    }

    [Test]
    public void TryGetTokenBytes_EndOfTextAndUnusedIds_AreEmpty_OutOfRangeIsUnknown()
    {
        Assert.Multiple(() =>
        {
            Assert.That(World.EndOfTextId == 0 && World.TryGetTokenBytes(0, out ReadOnlySpan<byte> eot) && eot.IsEmpty, Is.True);
            Assert.That(World.TryGetTokenBytes(65535, out ReadOnlySpan<byte> unused) && unused.IsEmpty, Is.True);
            Assert.That(World.TryGetTokenBytes(65536, out _), Is.False);
            Assert.That(World.TryGetTokenBytes(-1, out _), Is.False);
            Assert.That(World.Decode([33155, 0, 40213]), Is.EqualTo("Hello world"));
        });
    }

    [Test]
    public void StreamingDecoder_EmojiSplitAcrossTokens_EmitsItWhole()
    {
        StreamingDecoder decoder = World.CreateStreamingDecoder();
        string[] pieces = [.. World.EncodeToIds("I ❤️ 😀!").Select(decoder.Append)];
        Assert.Multiple(() =>
        {
            // 3319 (F0 9F) and 153 (98) hold the emoji back; 129 (80) completes it.
            Assert.That(pieces, Is.EqualTo(new[] { "I", " ❤", "\uFE0F", " ", "", "", "😀", "!" }));
            Assert.That(decoder.Flush(), Is.Empty);
        });
    }

    [Test]
    public void EncodeToTokens_TokensInsideACharacter_CoverTheWholeCharacter()
    {
        IReadOnlyList<EncodedToken> tokens = World.EncodeToTokens("I ❤️ 😀!", out string? normalized);
        Assert.Multiple(() =>
        {
            Assert.That(normalized, Is.Null);
            Assert.That(tokens.Select(t => t.Id), Is.EqualTo(new[] { 74, 22967, 19103, 33, 3319, 153, 129, 34 }));
            Assert.That(tokens.Select(t => (t.Offset.Start.Value, t.Offset.End.Value)),
                Is.EqualTo(new[] { (0, 1), (1, 3), (3, 4), (4, 5), (5, 7), (5, 7), (5, 7), (7, 8) }));
            Assert.That(tokens[4].Value, Is.EqualTo("😀"));
        });
    }

    [Test]
    public void EncodeToIds_TokenBudget_StopsAtACharacterBoundary()
    {
        // Five tokens would end inside the emoji (after F0 9F), so only four are kept: "I ❤️ " = 5 chars.
        IReadOnlyList<int> ids = World.EncodeToIds("I ❤️ 😀!", 5, out _, out int charsConsumed);
        int index = World.GetIndexByTokenCount("I ❤️ 😀!", 7, out _, out int count);
        int fromEnd = World.GetIndexByTokenCountFromEnd("I ❤️ 😀!", 2, out _, out int countFromEnd);
        Assert.Multiple(() =>
        {
            Assert.That(ids, Is.EqualTo(new[] { 74, 22967, 19103, 33 }));
            Assert.That(charsConsumed, Is.EqualTo(5));
            Assert.That(index, Is.EqualTo(7), "seven tokens end after the emoji");
            Assert.That(count, Is.EqualTo(7));
            Assert.That(fromEnd, Is.EqualTo(7), "two trailing tokens would start inside the emoji; only '!' fits");
            Assert.That(countFromEnd, Is.EqualTo(1));
        });
    }

    // ---- vocabulary parsing (Python literals) ----

    private static RwkvWorldTokenizer FromLines(params string[] lines) =>
        RwkvWorldTokenizer.Create(new MemoryStream(new UTF8Encoding(false).GetBytes(string.Join("\n", lines) + "\n")));

    private static byte[] BytesOf(RwkvWorldTokenizer tokenizer, int id)
    {
        tokenizer.TryGetTokenBytes(id, out ReadOnlySpan<byte> bytes);
        return bytes.ToArray();
    }

    [TestCase(@"'a b'", new byte[] { 0x61, 0x20, 0x62 })]
    [TestCase(@"'\n\t\r'", new byte[] { 0x0A, 0x09, 0x0D })]
    [TestCase(@"'\a\b\f\v'", new byte[] { 7, 8, 12, 11 })]
    [TestCase(@"'\\'", new byte[] { 0x5C })]
    [TestCase(@"'\''", new byte[] { 0x27 })]
    [TestCase(@"""'""", new byte[] { 0x27 })]
    [TestCase(@"'""'", new byte[] { 0x22 })]
    [TestCase(@"""\""""", new byte[] { 0x22 })]
    [TestCase(@"'\x00\x7f'", new byte[] { 0x00, 0x7F })]
    [TestCase(@"'\xe9'", new byte[] { 0xC3, 0xA9 })]                   // str: U+00E9 as UTF-8
    [TestCase(@"b'\xe9'", new byte[] { 0xE9 })]                        // bytes: the byte itself
    [TestCase(@"'\u200b'", new byte[] { 0xE2, 0x80, 0x8B })]
    [TestCase(@"'\U0001F600'", new byte[] { 0xF0, 0x9F, 0x98, 0x80 })]
    [TestCase(@"'\101\0'", new byte[] { 0x41, 0x00 })]                 // octal
    [TestCase(@"b'\u20'", new byte[] { 0x5C, 0x75, 0x32, 0x30 })]      // \u is no escape in bytes
    [TestCase(@"'\q'", new byte[] { 0x5C, 0x71 })]                     // unknown escape keeps the backslash
    [TestCase("'é😀'", new byte[] { 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80 })]
    public void Create_PythonLiteral_ParsesExactly(string literal, byte[] expected)
    {
        RwkvWorldTokenizer tokenizer = FromLines($"7 {literal} {expected.Length}");
        Assert.That(BytesOf(tokenizer, 7), Is.EqualTo(expected));
    }

    [TestCase("5 'ab' 3", "Line 1", "stands for 2 bytes but the line says 3")]
    [TestCase("5 ab 2", "Line 1", "not a quoted Python str or bytes literal")]
    [TestCase("0 'a' 1", "Line 1", "0 is end of text")]
    [TestCase("65536 'a' 1", "Line 1", "from 1 to 65535")]
    [TestCase("5 '\\x4' 1", "Line 1", "\\x escape is not followed by 2 hexadecimal digits")]
    [TestCase("5 '\\ud800' 3", "Line 1", "not a Unicode scalar value")]
    [TestCase("5 b'é' 2", "Line 1", "non-ASCII")]
    [TestCase("5 'a' x", "Line 1", "byte length 'x'")]
    public void Create_MalformedLine_ThrowsNamingLineAndProblem(string line, string where, string problem)
    {
        var e = Assert.Throws<InvalidDataException>(() => FromLines(line));
        Assert.That(e!.Message, Does.Contain(where).And.Contain(problem));
    }

    [Test]
    public void Create_DuplicateId_Throws()
    {
        Assert.That(() => FromLines("5 'a' 1", "5 'b' 1"),
            Throws.TypeOf<InvalidDataException>().With.Message.Contains("Line 2").And.Message.Contains("token id 5 a second time"));
    }

    [Test]
    public void Create_MissingFile_ThrowsFileNotFound()
    {
        Assert.That(() => RwkvWorldTokenizer.Create(Path.Combine(Path.GetTempPath(), $"no-vocab-{Guid.NewGuid():N}.txt")),
            Throws.TypeOf<FileNotFoundException>().With.Message.Contains("no-vocab-"));
    }

    [Test]
    public void Encode_SmallVocabulary_TakesTheLongestMatch()
    {
        // Entries a, b, ab, abc: "abcab" -> abc | ab ; "abd" would need 'd', which is missing.
        RwkvWorldTokenizer tokenizer = FromLines("1 'a' 1", "2 'b' 1", "3 'ab' 2", "4 'abc' 3", "5 'c' 1");
        Assert.Multiple(() =>
        {
            Assert.That(tokenizer.EncodeToIds("abcab"), Is.EqualTo(new[] { 4, 3 }));
            Assert.That(tokenizer.EncodeToIds("aab"), Is.EqualTo(new[] { 1, 3 }));
            Assert.That(() => tokenizer.EncodeToIds("abd"), Throws.InvalidOperationException.With.Message.Contains("0x64"));
        });
    }
}
