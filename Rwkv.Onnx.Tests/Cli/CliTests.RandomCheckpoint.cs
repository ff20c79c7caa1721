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
}
