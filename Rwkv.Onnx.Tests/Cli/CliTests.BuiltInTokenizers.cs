using Rwkv.Onnx.Cli;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// <c>export</c> picks the built-in tokenizer of the vocabulary (or <c>--tokenizer world|neox|bytes|&lt;file&gt;</c>),
/// warns when none fits, and <c>generate</c> then runs, or says how to add one; <c>tokenize</c> takes the built-in names.
/// </summary>
public sealed partial class CliTests
{
    // A 2-layer, width-32 RWKV-7 with the given vocabulary (65,536 by default: an RWKV World model's).
    private string RandomRwkv7(string vocab = "65536")
    {
        string checkpoint = Path.Combine(_work, $"random-{vocab}.bin");
        CliRun written = Run("random-checkpoint", "--version", "7", "--layers", "2", "--embd", "32", "--head-size", "32", "--vocab", vocab, "-o", checkpoint);
        Assert.That(written.ExitCode, Is.EqualTo(ExitCodes.Success), written.Stderr);
        return checkpoint;
    }

    [Test]
    public void Export_WorldVocabularyWithoutTokenizer_CopiesTheWorldVocabularyAndGenerateRuns()
    {
        string model = Path.Combine(_work, "model");

        CliRun exported = Run("export", RandomRwkv7(), "-o", model);
        CliRun generated = Run("generate", model, "--prompt", "Hello", "--max-tokens", "3", "--temperature", "0");

        Assert.Multiple(() =>
        {
            Assert.That(exported.ExitCode, Is.EqualTo(ExitCodes.Success), exported.Stderr);
            Assert.That(exported.Stdout, Does.Contain("tokenizer world").And.Contain("rwkv_vocab_v20230424.txt"));
            Assert.That(exported.Stderr, Does.Not.Contain("warning:"));
            Assert.That(File.ReadAllBytes(Path.Combine(model, "rwkv_vocab_v20230424.txt")),
                Is.EqualTo(File.ReadAllBytes(SharedFixtures.Tokenizer("rwkv_vocab_v20230424.txt"))));
            Assert.That(generated.ExitCode, Is.EqualTo(ExitCodes.Success), generated.Stderr);
        });
    }

    [Test]
    public void Export_TokenizerBytesForAWorldVocabulary_IsAUsageErrorAndWritesNothing()
    {
        string checkpoint = RandomRwkv7();
        string model = Path.Combine(_work, "model");

        CliRun run = Run("export", checkpoint, "-o", model, "--tokenizer", "bytes");

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage));
            Assert.That(run.Stderr, Does.StartWith("error: The built-in tokenizer 'bytes' has 256 tokens, fewer than the model's vocabulary of 65536 by more than padding (to 256)"));
            Assert.That(run.Stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), "one error line");
            Assert.That(Directory.GetFileSystemEntries(_work).Select(Path.GetFileName), Is.EqualTo(new[] { Path.GetFileName(checkpoint) }));
        });
    }

    [Test]
    public void Export_VocabularyWithoutBuiltInTokenizer_WarnsAndGenerateSaysHowToAddOne()
    {
        string model = Path.Combine(_work, "model");

        CliRun exported = Run("export", RandomRwkv7(vocab: "1000"), "-o", model);
        CliRun generated = Run("generate", model, "--prompt", "Hello", "--max-tokens", "3");

        Assert.Multiple(() =>
        {
            Assert.That(exported.ExitCode, Is.EqualTo(ExitCodes.Success), exported.Stderr);
            Assert.That(exported.Stdout, Does.Contain("tokenizer unknown"));
            Assert.That(exported.Stderr, Does.Contain($"warning: '{model}' has no tokenizer: its vocabulary of 1000 matches no built-in one")
                .And.Contain("export again with --tokenizer <file>"));
            Assert.That(generated.ExitCode, Is.EqualTo(ExitCodes.Failure));
            Assert.That(generated.Stderr, Does.StartWith($"error: Model '{model}' has no tokenizer").And.Contain("export the checkpoint again with --tokenizer <file>"));
            Assert.That(generated.Stderr, Does.Not.Contain("   at "));
        });
    }

    [TestCase("fp16", true)]
    [TestCase("fp32", false)]
    [TestCase("int8", false)]
    public void Export_Fp16_NotesThatInt8IsTheSmallFastChoiceOnTheCpu(string dtype, bool noted)
    {
        string[] blockSize = dtype == "int8" ? ["--block-size", "16"] : [];
        CliRun exported = Run(["export", RandomRwkv7(vocab: "256"), "-o", Path.Combine(_work, "model"), "--dtype", dtype, .. blockSize]);

        Assert.That(exported.ExitCode, Is.EqualTo(ExitCodes.Success), exported.Stderr);
        Assert.That(exported.Stderr, noted
            ? Does.Contain("note: fp16 saves disk and GPU memory, not CPU memory or time").And.Contain("--dtype int8 is the fast, small choice")
            : Does.Not.Contain("note: fp16"));
    }

    [TestCase("world", "rwkv_vocab_v20230424.txt")]
    [TestCase("neox", "20B_tokenizer.json")]
    public void Tokenize_BuiltInName_TokenizesAsTheSharedFile(string kind, string file)
    {
        const string Text = "Hello world, 你好! <|endoftext|>";

        CliRun builtIn = Run("tokenize", kind, "--text", Text, "--json");
        CliRun fromFile = Run("tokenize", SharedFixtures.Tokenizer(file), "--text", Text, "--json");

        Assert.Multiple(() =>
        {
            Assert.That(builtIn.ExitCode, Is.EqualTo(ExitCodes.Success), builtIn.Stderr);
            Assert.That(builtIn.Stdout, Is.EqualTo(fromFile.Stdout).And.StartsWith("["));
        });
    }
}
