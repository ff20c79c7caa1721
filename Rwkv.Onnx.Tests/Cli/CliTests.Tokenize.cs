using System.Text.Json;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

public sealed partial class CliTests
{
    // ---- tokenize ----

    [Test]
    public void Tokenize_WorldVocabularyJson_PrintsABareJsonArray()
    {
        // 33155 'Hello' 5 | 40213 ' world' 6 (see RwkvWorldTokenizerTests for the derivation).
        CliRun run = Run("tokenize", SharedFixtures.Tokenizer("rwkv_vocab_v20230424.txt"), "--text", "Hello world", "--json");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Zero, run.Stderr);
            Assert.That(run.Stdout.TrimEnd(), Is.EqualTo("[33155,40213]"));
            Assert.That(JsonSerializer.Deserialize<int[]>(run.Stdout), Is.EqualTo(new[] { 33155, 40213 }));
        });
    }

    [Test]
    public void Tokenize_NeoXTokenizerJson_PrintsSpaceSeparatedIds()
    {
        CliRun run = Run("tokenize", SharedFixtures.Tokenizer("20B_tokenizer.json"), "--text", "a   b");
        Assert.That((run.ExitCode, run.Stdout), Is.EqualTo((0, "66 50275 67" + Environment.NewLine)), run.Stderr);
    }

    [Test]
    public void Tokenize_ModelDirectory_UsesItsManifestTokenizer()
    {
        CliRun run = Run("tokenize", _model, "--text", "\"in", "--json");
        Assert.That((run.ExitCode, run.Stdout.TrimEnd()), Is.EqualTo((0, "[34,105,110]")), run.Stderr);
    }

    [Test]
    public void Tokenize_NotATokenizer_FailsWithOneErrorLine()
    {
        string file = Path.Combine(_work, "notes.txt");
        File.WriteAllText(file, "hello\n");
        CliRun run = Run("tokenize", file, "--text", "x");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(1));
            Assert.That(run.Stderr, Does.StartWith("error: ").And.Contain("notes.txt"));
        });
    }

    [Test]
    public void Export_WithTokenizer_CopiesItIntoTheModel()
    {
        string tokenizer = TinyTokenizers.WriteByteLevelBpeJson(Path.Combine(_work, "tok.json"));
        string output = Path.Combine(_work, "model");
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output, "--tokenizer", tokenizer);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Zero, run.Stderr);
            Assert.That(run.Stdout, Does.Contain("tokenizer neox").And.Contain("tok.json"));
            Assert.That(RwkvManifest.Load(output).Tokenizer.File, Is.EqualTo("tok.json"));
        });
    }
}
