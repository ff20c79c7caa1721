using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>Export with <see cref="ExportOptions.TokenizerPath"/>: the file is checked, copied and named in the manifest.</summary>
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
            Assert.That(e!.Message, Does.Contain("65536 tokens").And.Contain("vocabulary has 256"));
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
}
