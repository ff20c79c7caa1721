using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Runtime;

public class TokenizerTests
{
    private static readonly ByteTokenizer s_tokenizer = ByteTokenizer.Create();

    // "h" (1 byte), "é" (2), "€" (3), "😀" (4, a surrogate pair in UTF-16).
    private const string Mixed = "hé€😀";

    [Test]
    public void EncodeToIds_Ascii_GivesByteValues()
    {
        Assert.That(s_tokenizer.EncodeToIds("\"in"), Is.EqualTo(new[] { 34, 105, 110 }));
    }

    [Test]
    public void EncodeToIds_MultiByteCharacters_GivesUtf8Bytes()
    {
        int[] expected = [0x68, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80];
        Assert.Multiple(() =>
        {
            Assert.That(s_tokenizer.EncodeToIds(Mixed), Is.EqualTo(expected));
            Assert.That(s_tokenizer.EncodeToIds(Mixed.AsSpan()), Is.EqualTo(expected));
            Assert.That(s_tokenizer.EncodeToArray(Mixed), Is.EqualTo(expected));
            Assert.That(s_tokenizer.CountTokens(Mixed), Is.EqualTo(10));
        });
    }

    [Test]
    public void EncodeToIds_UnpairedSurrogate_EncodesReplacementCharacter()
    {
        Assert.That(s_tokenizer.EncodeToIds("a\uD800b"), Is.EqualTo(new[] { 0x61, 0xEF, 0xBF, 0xBD, 0x62 }));
    }

    [Test]
    public void EncodeToTokens_MultiByteCharacter_EveryByteCoversTheCharacter()
    {
        IReadOnlyList<EncodedToken> tokens = s_tokenizer.EncodeToTokens("a€", out string? normalized);
        Assert.Multiple(() =>
        {
            Assert.That(normalized, Is.Null);
            Assert.That(tokens.Select(t => t.Id), Is.EqualTo(new[] { 0x61, 0xE2, 0x82, 0xAC }));
            Assert.That(tokens.Select(t => t.Value), Is.EqualTo(new[] { "a", "€", "€", "€" }));
            Assert.That(tokens.Select(t => t.Offset.Start.Value), Is.EqualTo(new[] { 0, 1, 1, 1 }));
            Assert.That(tokens.Select(t => t.Offset.End.Value), Is.EqualTo(new[] { 1, 2, 2, 2 }));
        });
    }

    [Test]
    public void EncodeToIds_TokenBudget_NeverSplitsACharacter()
    {
        // "h" + "é" = 3 bytes; "€" would need 3 more, so a budget of 5 stops after "é".
        IReadOnlyList<int> ids = s_tokenizer.EncodeToIds(Mixed, 5, out _, out int charsConsumed);
        Assert.Multiple(() =>
        {
            Assert.That(ids, Is.EqualTo(new[] { 0x68, 0xC3, 0xA9 }));
            Assert.That(charsConsumed, Is.EqualTo(2));
        });
    }

    [Test]
    public void GetIndexByTokenCount_FromStartAndEnd_CountsWholeCharacters()
    {
        int index = s_tokenizer.GetIndexByTokenCount(Mixed, 6, out _, out int count);
        int fromEnd = s_tokenizer.GetIndexByTokenCountFromEnd(Mixed, 7, out _, out int countFromEnd);
        Assert.Multiple(() =>
        {
            Assert.That(index, Is.EqualTo(3));            // "hé€" = 6 bytes
            Assert.That(count, Is.EqualTo(6));
            Assert.That(fromEnd, Is.EqualTo(2));          // "€😀" = 7 bytes, starting at char 2
            Assert.That(countFromEnd, Is.EqualTo(7));
        });
    }

    [TestCase("")]
    [TestCase("plain ASCII text")]
    [TestCase("hé€😀 mixed ünïcödé 日本語")]
    public void Decode_OfEncode_RoundTrips(string text)
    {
        Assert.That(s_tokenizer.Decode(s_tokenizer.EncodeToIds(text)), Is.EqualTo(text));
    }

    [Test]
    public void Decode_InvalidUtf8_GivesReplacementCharacters()
    {
        // A lone continuation byte, and a truncated 3-byte sequence at the end.
        Assert.That(s_tokenizer.Decode([0x61, 0x80, 0x62, 0xE2, 0x82]), Is.EqualTo("a\uFFFDb\uFFFD"));
    }

    [TestCase(256)]
    [TestCase(-1)]
    public void Decode_IdOutsideVocabulary_ThrowsNamingTheId(int id)
    {
        var e = Assert.Throws<ArgumentException>(() => s_tokenizer.Decode([65, id]));
        Assert.That(e!.Message, Does.Contain($"Token id {id} at position 1").And.Contain("0 to 255"));
    }

    [Test]
    public void DecodeToSpan_LargeEnough_IsDone()
    {
        char[] destination = new char[16];
        OperationStatus status = s_tokenizer.Decode(s_tokenizer.EncodeToIds(Mixed), destination, out int ids, out int chars);
        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(OperationStatus.Done));
            Assert.That(ids, Is.EqualTo(10));
            Assert.That(new string(destination, 0, chars), Is.EqualTo(Mixed));
        });
    }

    [Test]
    public void DecodeToSpan_TooSmall_StopsAtACharacterBoundary()
    {
        // 4 chars of room: "hé€" takes 3 chars, "😀" needs 2 more.
        char[] destination = new char[4];
        OperationStatus status = s_tokenizer.Decode(s_tokenizer.EncodeToIds(Mixed), destination, out int ids, out int chars);
        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(OperationStatus.DestinationTooSmall));
            Assert.That(ids, Is.EqualTo(6));
            Assert.That(chars, Is.EqualTo(3));
            Assert.That(new string(destination, 0, chars), Is.EqualTo("hé€"));
        });
    }

    [Test]
    public void DecodeToSpan_InvalidId_ReportsInvalidDataAfterTheValidPrefix()
    {
        char[] destination = new char[8];
        OperationStatus status = s_tokenizer.Decode([0x61, 0x62, 300, 0x63], destination, out int ids, out int chars);
        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(OperationStatus.InvalidData));
            Assert.That(ids, Is.EqualTo(2));
            Assert.That(new string(destination, 0, chars), Is.EqualTo("ab"));
        });
    }

    [Test]
    public void StreamingDecoder_TokenByToken_NeverEmitsReplacementForSplitCharacters()
    {
        StreamingDecoder decoder = s_tokenizer.CreateStreamingDecoder();
        var pieces = s_tokenizer.EncodeToIds(Mixed).Select(decoder.Append).ToList();
        Assert.Multiple(() =>
        {
            // h | é after its 2nd byte | € after its 3rd | 😀 after its 4th.
            Assert.That(pieces, Is.EqualTo(new[] { "h", "", "é", "", "", "€", "", "", "", "😀" }));
            Assert.That(string.Concat(pieces), Does.Not.Contain('\uFFFD'));
            Assert.That(decoder.Flush(), Is.Empty);
        });
    }

    [Test]
    public void StreamingDecoder_ConcatenationEqualsDecode_ForRandomValidText()
    {
        var random = new Random(1234);
        var text = new StringBuilder();
        string[] alphabet = ["a", " ", "ß", "€", "日", "😀", "\n", "Z"];
        for (int i = 0; i < 500; i++)
        {
            text.Append(alphabet[random.Next(alphabet.Length)]);
        }
        StreamingDecoder decoder = s_tokenizer.CreateStreamingDecoder();
        string streamed = string.Concat(s_tokenizer.EncodeToIds(text.ToString()).Select(decoder.Append)) + decoder.Flush();
        Assert.That(streamed, Is.EqualTo(text.ToString()));
    }

    [Test]
    public void StreamingDecoder_Flush_EmitsReplacementForIncompleteTailAndResets()
    {
        StreamingDecoder decoder = s_tokenizer.CreateStreamingDecoder();
        Assert.Multiple(() =>
        {
            Assert.That(decoder.Append(0xE2), Is.Empty);
            Assert.That(decoder.Append(0x82), Is.Empty);
            Assert.That(decoder.Flush(), Is.EqualTo("\uFFFD"));
            Assert.That(decoder.Append(0x41), Is.EqualTo("A"));
        });
    }

    [Test]
    public void StreamingDecoder_InvalidSequence_EmitsReplacementWithoutWaitingForFlush()
    {
        StreamingDecoder decoder = s_tokenizer.CreateStreamingDecoder();
        string first = decoder.Append(0xC3);      // lead byte of a 2-byte sequence
        string second = decoder.Append(0x41);     // 'A' cannot continue it
        Assert.Multiple(() =>
        {
            Assert.That(first, Is.Empty);
            Assert.That(second, Is.EqualTo("\uFFFDA"));
        });
    }

    [Test]
    public void StreamingDecoder_Reset_DropsHeldBytes()
    {
        StreamingDecoder decoder = s_tokenizer.CreateStreamingDecoder();
        decoder.Append(0xE2);
        decoder.Reset();
        Assert.That(decoder.Append(0x41) + decoder.Flush(), Is.EqualTo("A"));
    }

    [Test]
    public void StreamingDecoder_IdOutsideVocabulary_Throws()
    {
        StreamingDecoder decoder = s_tokenizer.CreateStreamingDecoder();
        Assert.That(() => decoder.Append(999), Throws.ArgumentException.With.Message.Contains("Token id 999"));
    }
}
