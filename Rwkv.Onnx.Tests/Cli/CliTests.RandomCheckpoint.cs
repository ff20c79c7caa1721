using Rwkv.Onnx.Cli;

namespace Rwkv.Onnx.Tests.Cli;

public sealed partial class CliTests
{
    [TestCase("4", "fp32")]
    [TestCase("5.2", "fp32")]
    [TestCase("6", "fp32")]
    [TestCase("6", "fp16")]
    [TestCase("7", "fp32")]
    [TestCase("7", "fp16")]
    public void RandomCheckpoint_EachVersion_ExportsAndRuns(string version, string dtype)
    {
        string checkpoint = Path.Combine(_work, "random.bin");
        string model = Path.Combine(_work, "model");

        CliRun written = Run("random-checkpoint", "--version", version, "--layers", "2", "--embd", "128", "--vocab", "300", "--seed", "5", "--dtype", dtype, "-o", checkpoint);
        Assert.That(written.ExitCode, Is.EqualTo(ExitCodes.Success), written.Stderr);
        CliRun exported = Run("export", checkpoint, "-o", model);
        Assert.That(exported.ExitCode, Is.EqualTo(ExitCodes.Success), exported.Stderr);

        using RwkvModel loaded = RwkvModel.Load(model);
        Assert.That(loaded.Manifest.Architecture.Version, Is.EqualTo(version));
        Assert.That(loaded.VocabSize, Is.EqualTo(300));
        float[] logits = RuntimeLogits(model, [1, 2, 3, 299], all: true, RwkvForwardMode.Prefill);
        Assert.That(logits, Has.All.Matches<float>(float.IsFinite));
        Assert.That(logits.Max() - logits.Min(), Is.GreaterThan(0.1f), "random weights of a real size give varied logits");
    }

    [Test]
    public void RandomCheckpoint_SameSeed_SameBytes_OtherSeed_OtherBytes()
    {
        string[] Args(string seed, string name) =>
            ["random-checkpoint", "--version", "7", "--layers", "1", "--embd", "64", "--vocab", "100", "--seed", seed, "-o", Path.Combine(_work, name)];

        Assert.That(Run(Args("1", "a.bin")).ExitCode, Is.EqualTo(ExitCodes.Success));
        Assert.That(Run(Args("1", "b.bin")).ExitCode, Is.EqualTo(ExitCodes.Success));
        Assert.That(Run(Args("2", "c.bin")).ExitCode, Is.EqualTo(ExitCodes.Success));

        byte[] a = File.ReadAllBytes(Path.Combine(_work, "a.bin"));
        Assert.That(File.ReadAllBytes(Path.Combine(_work, "b.bin")), Is.EqualTo(a));
        Assert.That(File.ReadAllBytes(Path.Combine(_work, "c.bin")), Is.Not.EqualTo(a));
    }

    [Test]
    public void RandomCheckpoint_ExistingOutputWithoutForce_IsUsageError()
    {
        string path = Path.Combine(_work, "exists.bin");
        File.WriteAllText(path, "x");

        CliRun run = Run("random-checkpoint", "--version", "7", "--layers", "1", "--embd", "64", "-o", path);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage));
        Assert.That(run.Stderr, Does.Contain("already exists"));
        Assert.That(File.ReadAllText(path), Is.EqualTo("x"));
    }

    [Test]
    public void RandomCheckpoint_UnknownVersion_IsUsageError()
    {
        CliRun run = Run("random-checkpoint", "--version", "8", "--layers", "1", "--embd", "64", "-o", Path.Combine(_work, "x.bin"));

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage));
        Assert.That(run.Stderr, Does.Contain("'8'"));
    }

    // One float array per tensor: at most Array.MaxLength = 2,147,483,591 elements (issue 16 item 6).
    [TestCase("7", "1000", "65536", null, null, "--embd: 65536 makes each [65536, 65536] attention matrix 4294967296 elements", "--embd can be at most 46340")]
    [TestCase("7", "2", "40000", "65536", null, "--vocab: 65536 at --embd 40000 makes 'emb.weight' and 'head.weight' [65536, 40000] 2621440000 elements", "--vocab can be at most 53687")]
    [TestCase("7", "2", "1024", "100", "3000000", "--ffn: --ffn 3000000 at --embd 1024 makes 'ffn.key.weight' [3000000, 1024] 3072000000 elements", "--ffn can be at most 2097151")]
    [TestCase("4", "2", "30000", "100", null, "--ffn: the default --ffn 120000 at --embd 30000 makes 'ffn.key.weight' [120000, 30000] 3600000000 elements", "--ffn can be at most 71582")]
    public void RandomCheckpoint_TensorBeyondOneArray_IsUsageErrorNamingTheOptionAndTheLimit(
        string version, string layers, string embd, string? vocab, string? ffn, string what, string limit)
    {
        string path = Path.Combine(_work, "huge.bin");
        string[] args = ["random-checkpoint", "--version", version, "--layers", layers, "--embd", embd, "-o", path];
        args = [.. args, .. vocab is null ? [] : new[] { "--vocab", vocab }, .. ffn is null ? [] : new[] { "--ffn", ffn }];

        CliRun run = Run(args);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.Stderr);
        Assert.That(run.Stderr, Does.StartWith("error: " + what).And.Contain(limit));
        Assert.That(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(1));
        Assert.That(run.Stderr, Does.Not.Contain("   at ").And.Not.Contain("Overflow"));
        Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty, "no file, no partial file");
    }

    [TestCase("0")]
    [TestCase("-5")]
    public void RandomCheckpoint_FfnNotPositive_IsUsageError(string ffn)
    {
        CliRun run = Run("random-checkpoint", "--version", "7", "--layers", "1", "--embd", "64", "--ffn", ffn, "-o", Path.Combine(_work, "x.bin"));

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.Stderr);
        Assert.That(run.Stderr, Does.Contain($"--ffn: {ffn} is out of range; expected a whole number, 1 or more."));
        Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
    }
}
