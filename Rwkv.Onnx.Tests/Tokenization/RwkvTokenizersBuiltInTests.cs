using System.Security.Cryptography;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Tokenization;

/// <summary>
/// The tokenizers built into the runtime library (<see cref="RwkvTokenizers.CreateBuiltIn"/>): the embedded files are
/// rwkv.cpp's, byte for byte, and tokenize exactly as the same files read from <c>../shared/tokenizers</c>.
/// </summary>
[TestFixture]
public sealed class RwkvTokenizersBuiltInTests
{
    // Full SHA-256 of the shared files; their first 16 hex digits are those of shared/fixtures/README.md §5.
    [TestCase("world", "rwkv_vocab_v20230424.txt", 1093733, "e6dee3d4e31b4d5c40ac99508ac6c701ceef4bed681bf2167ce9a908552bca89")]
    [TestCase("neox", "20B_tokenizer.json", 2467981, "56ac4821e129d2c520fdaba60abd920fa852ada51b45c0dd52bbb6bd8c985ade")]
    public void OpenBuiltInFile_IsTheSharedFileByteForByte(string kind, string file, long bytes, string sha256)
    {
        using Stream stream = RwkvTokenizers.OpenBuiltInFile(kind);
        var copy = new MemoryStream();
        stream.CopyTo(copy);

        Assert.Multiple(() =>
        {
            Assert.That(RwkvTokenizers.BuiltInFile(kind), Is.EqualTo(file));
            Assert.That(copy.Length, Is.EqualTo(bytes));
            Assert.That(Convert.ToHexStringLower(SHA256.HashData(copy.ToArray())), Is.EqualTo(sha256));
        });
    }

    [TestCase("world", "rwkv_vocab_v20230424.txt", typeof(RwkvWorldTokenizer), 65536)]
    [TestCase("neox", "20B_tokenizer.json", typeof(GptNeoXTokenizer), 50277)]
    public void CreateBuiltIn_TokenizesAsTheSharedFile(string kind, string file, Type type, int vocabulary)
    {
        const string Text = "Hello world! Ünïcödé, 中文 and code: if (x) { return 42; }\n\n";
        ByteLevelTokenizer builtIn = RwkvTokenizers.CreateBuiltIn(kind);
        ByteLevelTokenizer fromFile = RwkvTokenizers.LoadFile(SharedFixtures.Tokenizer(file));

        Assert.Multiple(() =>
        {
            Assert.That(builtIn, Is.TypeOf(type));
            Assert.That(builtIn.VocabularySize, Is.EqualTo(vocabulary));
            Assert.That(builtIn.EncodeToIds(Text), Is.EqualTo(fromFile.EncodeToIds(Text)));
            Assert.That(builtIn.Decode(builtIn.EncodeToIds(Text)), Is.EqualTo(Text));
        });
    }

    [Test]
    public void CreateBuiltIn_Bytes_IsTheByteTokenizer() =>
        Assert.That(RwkvTokenizers.CreateBuiltIn("bytes").EncodeToIds("\"in"), Is.EqualTo(new[] { 34, 105, 110 }));

    [TestCase("gpt2")]
    [TestCase("World")]
    [TestCase("unknown")]
    public void CreateBuiltIn_OtherName_ThrowsNamingTheBuiltInOnes(string kind) =>
        Assert.That(() => RwkvTokenizers.CreateBuiltIn(kind),
            Throws.ArgumentException.With.Message.Contains($"'{kind}' is not a built-in tokenizer").And.Message.Contains("bytes, world, neox"));

    // Vocabularies read off the models: RWKV World (v4 World, v5-v7) 65536 rows of emb.weight, RWKV-4 Pile and Raven 50277.
    [TestCase(256, "bytes")]
    [TestCase(65536, "world")]
    [TestCase(50277, "neox")]
    [TestCase(50304, null)]
    [TestCase(300, null)]
    public void DefaultKind_ByVocabulary(int vocab, string? kind) => Assert.That(RwkvTokenizers.DefaultKind(vocab), Is.EqualTo(kind));

    private const string Other = ": the model was trained with another tokenizer";

    [TestCase("bytes", 65536, "has 256 tokens, fewer than the model's vocabulary of 65536 by more than padding (to 256)" + Other)]
    [TestCase("bytes", 300, "has 256 tokens, fewer than the model's vocabulary of 300 by more than padding (to 256)" + Other)]
    [TestCase("neox", 65536, "has 50277 tokens, fewer than the model's vocabulary of 65536 by more than padding (to 50432)" + Other)]
    [TestCase("world", 50277, "has 65536 tokens, more than the model's vocabulary of 50277")]
    [TestCase("neox", 50304, null)] // padded to a multiple of 64
    [TestCase("neox", 50432, null)] // padded to a multiple of 256
    [TestCase("world", 65536, null)]
    [TestCase("bytes", 256, null)]
    public void Mismatch_NamesBothSizes(string kind, int vocab, string? expected) =>
        Assert.That(RwkvTokenizers.Mismatch(RwkvTokenizers.CreateBuiltIn(kind), vocab), Is.EqualTo(expected));

    [TestCase(65536, "export the checkpoint again (or with --tokenizer world)", "CreateBuiltIn(\"world\")")]
    [TestCase(50277, "export the checkpoint again (or with --tokenizer neox)", "CreateBuiltIn(\"neox\")")]
    [TestCase(1000, "export the checkpoint again with --tokenizer <file>", "RwkvTokenizers.LoadFile")]
    public void Load_UnknownKind_SaysHowToAddATokenizer(int vocab, string fix, string fromCode)
    {
        var e = Assert.Throws<ModelContractException>(() => RwkvTokenizers.Load(RwkvTokenizersTests.Manifest("unknown", null, vocab), "/models/m"));

        Assert.That(e!.Message, Does.StartWith("Model '/models/m' has no tokenizer").And.Contain(fix).And.Contain(fromCode));
    }

    [Test]
    public void Load_ManifestNamingTheByteTokenizerForAWorldVocabulary_Throws()
    {
        var e = Assert.Throws<ModelContractException>(() => RwkvTokenizers.Load(RwkvTokenizersTests.Manifest("bytes", null, 65536), "/models/m"));

        Assert.That(e!.Message, Does.Contain("names the 'bytes' tokenizer, which has 256 tokens, fewer than the model's vocabulary of 65536 by more than padding (to 256)"));
    }
}
