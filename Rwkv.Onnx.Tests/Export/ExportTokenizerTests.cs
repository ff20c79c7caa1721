using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>
/// Export with <see cref="ExportOptions.TokenizerPath"/> or <see cref="ExportOptions.BuiltInTokenizer"/>, or neither (the
/// vocabulary picks a built-in tokenizer): the tokenizer is checked against the vocabulary, copied and named in the manifest.
/// </summary>
[TestFixture]
public sealed class ExportTokenizerTests
{
    private string _work = "";

    [SetUp]
    public void SetUp() => _work = Directory.CreateTempSubdirectory("rwkv-export-tokenizer-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_work, recursive: true);

    [Test]
    public void Export_WithTokenizerFile_CopiesItAndNamesItInTheManifest()
    {
        string tokenizerPath = TinyTokenizers.WriteByteLevelBpeJson(Path.Combine(_work, "bytes-tokenizer.json"));
        string output = Path.Combine(_work, "model");

        RwkvManifest manifest = RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), output,
            new ExportOptions { TokenizerPath = tokenizerPath });

        Assert.Multiple(() =>
        {
            Assert.That(manifest.Tokenizer, Is.EqualTo(new RwkvTokenizerInfo { Kind = "neox", File = "bytes-tokenizer.json" }));
            Assert.That(RwkvManifest.Load(output).Tokenizer, Is.EqualTo(manifest.Tokenizer));
            Assert.That(File.ReadAllBytes(Path.Combine(output, "bytes-tokenizer.json")), Is.EqualTo(File.ReadAllBytes(tokenizerPath)));
            // The runtime picks it up from the manifest; its ids are the byte values.
            Assert.That(RwkvTokenizers.Load(manifest, output).EncodeToIds("\"in"), Is.EqualTo(new[] { 34, 105, 110 }));
        });
    }

    [Test]
    public void Export_TokenizerLargerThanVocabulary_ThrowsBeforeWritingAnything()
    {
        string output = Path.Combine(_work, "model");
        var e = Assert.Throws<ArgumentException>(() => RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), output,
            new ExportOptions { TokenizerPath = SharedFixtures.Tokenizer("rwkv_vocab_v20230424.txt") }));
        Assert.Multiple(() =>
        {
            Assert.That(e!.Message, Does.Contain("65536 tokens").And.Contain("vocabulary of 256"));
            Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
        });
    }

    [Test]
    public void Export_MissingTokenizerFile_ThrowsFileNotFound()
    {
        string missing = Path.Combine(_work, "missing.json");
        Assert.That(() => RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), Path.Combine(_work, "model"),
            new ExportOptions { TokenizerPath = missing }), Throws.TypeOf<FileNotFoundException>().With.Message.Contains("missing.json"));
    }

    // Tiny random checkpoints with the real vocabularies: RWKV World (65,536) and RWKV-4 Pile (50,277); ~10-20 MB each.
    // RWKV-7 has 2 layers: a 1-layer one has no value LoRA (layer 0 has none), and its manifest records rank 0, which
    // RwkvManifest.Load refuses (a separate bug).
    private string WorldCheckpoint(int vocab = 65536)
    {
        string path = Path.Combine(_work, $"world-{vocab}.bin");
        RandomCheckpoint.WriteRwkv7(path, layers: 2, embd: 32, headSize: 32, vocab: vocab, ffn: 64, loraW: 8, loraA: 8, loraV: 8, loraG: 8, seed: 1);
        return path;
    }

    private string PileCheckpoint(int vocab = 50277)
    {
        string path = Path.Combine(_work, $"pile-{vocab}.bin");
        RandomCheckpoint.WriteRwkv4(path, layers: 1, embd: 32, vocab: vocab, ffn: 64, seed: 2);
        return path;
    }

    [TestCase(65536, "world", "rwkv_vocab_v20230424.txt", TestName = "Export_WorldVocabularyWithoutTokenizer_CopiesTheBuiltInWorldVocabulary")]
    [TestCase(50277, "neox", "20B_tokenizer.json", TestName = "Export_PileVocabularyWithoutTokenizer_CopiesTheBuiltInNeoXTokenizer")]
    public void Export_WithoutTokenizer_PicksTheBuiltInOfTheVocabulary(int vocab, string kind, string file)
    {
        string checkpoint = vocab == 65536 ? WorldCheckpoint() : PileCheckpoint();
        string output = Path.Combine(_work, "model");

        RwkvManifest manifest = RwkvExporter.Export(checkpoint, output, new ExportOptions());

        Assert.Multiple(() =>
        {
            Assert.That(manifest.Tokenizer, Is.EqualTo(new RwkvTokenizerInfo { Kind = kind, File = file }));
            Assert.That(File.ReadAllBytes(Path.Combine(output, file)), Is.EqualTo(File.ReadAllBytes(SharedFixtures.Tokenizer(file))),
                "the directory holds the tokenizer file itself, so it runs without this library");
            ByteLevelTokenizer loaded = RwkvTokenizers.Load(RwkvManifest.Load(output), output);
            Assert.That(loaded.EncodeToIds("Hello world"), Is.EqualTo(RwkvTokenizers.LoadFile(SharedFixtures.Tokenizer(file)).EncodeToIds("Hello world")));
        });
    }

    [Test]
    public void Export_OtherVocabularyWithoutTokenizer_RecordsUnknownAndTheRuntimeSaysHowToFixIt()
    {
        string output = Path.Combine(_work, "model");

        RwkvManifest manifest = RwkvExporter.Export(PileCheckpoint(vocab: 50304), output, new ExportOptions());

        Assert.That(manifest.Tokenizer, Is.EqualTo(new RwkvTokenizerInfo { Kind = RwkvTokenizers.UnknownKind }));
        Assert.That(Directory.GetFiles(output).Select(Path.GetFileName), Is.EquivalentTo(new[]
        {
            RwkvContract.ManifestFile, RwkvContract.StepGraphFile, RwkvContract.PrefillGraphFile, RwkvContract.StateCopyGraphFile, RwkvContract.WeightsFile,
        }));
        var e = Assert.Throws<ModelContractException>(() => RwkvTokenizers.Load(manifest, output));
        Assert.That(e!.Message, Does.Contain("vocabulary of 50304 matches no built-in tokenizer").And.Contain("--tokenizer <file>"));
    }

    [Test]
    public void Export_BuiltInNeoXForAPaddedPileVocabulary_CopiesIt()
    {
        // A vocabulary padded past 50,277 has no default; --tokenizer neox names it.
        string output = Path.Combine(_work, "model");

        RwkvManifest manifest = RwkvExporter.Export(PileCheckpoint(vocab: 50304), output, new ExportOptions { BuiltInTokenizer = "neox" });

        Assert.That(manifest.Tokenizer, Is.EqualTo(new RwkvTokenizerInfo { Kind = "neox", File = "20B_tokenizer.json" }));
        Assert.That(RwkvTokenizers.Load(manifest, output), Is.TypeOf<GptNeoXTokenizer>());
    }

    [TestCase("bytes", "has 256 tokens, fewer than the model's vocabulary of 65536 by more than padding (to 256)")]
    [TestCase("neox", "has 50277 tokens, fewer than the model's vocabulary of 65536 by more than padding (to 50432)")]
    public void Export_MismatchedBuiltInTokenizer_ThrowsBeforeWritingAnything(string builtIn, string message)
    {
        string checkpoint = WorldCheckpoint();

        var e = Assert.Throws<ArgumentException>(() => RwkvExporter.Export(checkpoint, Path.Combine(_work, "model"), new ExportOptions { BuiltInTokenizer = builtIn }));

        Assert.That(e!.Message, Does.StartWith($"The built-in tokenizer '{builtIn}' {message}"));
        Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { Path.GetFileName(checkpoint) }));
    }

    [Test]
    public void Export_BuiltInWorldForAByteModel_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), Path.Combine(_work, "model"),
            new ExportOptions { BuiltInTokenizer = "world" }));

        Assert.That(e!.Message, Does.StartWith("The built-in tokenizer 'world' has 65536 tokens, more than the model's vocabulary of 256"));
    }

    [Test]
    public void Export_TokenizerFileAndBuiltInTokenizer_Throws()
    {
        string tokenizerPath = TinyTokenizers.WriteByteLevelBpeJson(Path.Combine(_work, "bytes-tokenizer.json"));

        var e = Assert.Throws<ArgumentException>(() => RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), Path.Combine(_work, "model"),
            new ExportOptions { TokenizerPath = tokenizerPath, BuiltInTokenizer = "bytes" }));

        Assert.That(e!.Message, Does.Contain("bytes-tokenizer.json").And.Contain("'bytes'").And.Contain("choose one"));
    }

    [Test]
    public void BuiltInTokenizer_NotABuiltInKind_Throws() =>
        Assert.That(() => new ExportOptions { BuiltInTokenizer = "gpt2" }, Throws.ArgumentException.With.Message.Contains("'gpt2' is not a built-in tokenizer"));
}
