using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>An option that would have no effect is refused with a usage error naming it and what makes it useless, before any output.</summary>
public sealed partial class CliTests
{
    // Export options whose uselessness the command line alone shows: (extra arguments, the option refused, what the message cites).
    [TestCase(new[] { "--block-size", "64" }, "--block-size", "--dtype")]
    [TestCase(new[] { "--dtype", "fp16", "--block-size", "32" }, "--block-size", "int8 or int4")]
    [TestCase(new[] { "--quant-compute", "fp32" }, "--quant-compute", "--dtype")]
    [TestCase(new[] { "--dtype", "fp16", "--head-dtype", "fp32", "--quant-compute", "int8" }, "--quant-compute", "--head-dtype")]
    [TestCase(new[] { "--prefill-recurrence", "scan", "--wkv-chunk", "16" }, "--wkv-chunk", "--prefill-recurrence scan")]
    public void Export_OptionWithoutEffect_IsAUsageErrorAndWritesNothing(string[] options, string refused, string cited)
    {
        string output = Path.Combine(_work, "model");
        CliRun run = Run(["export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output, .. options]);
        AssertRefused(run, refused, cited);
    }

    [Test]
    public void Export_QuantizationOptionsWithAQuantizedHeadOnly_AreAccepted() =>
        AssertAccepted("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", "out", "--dtype", "fp16", "--head-dtype", "int8", "--block-size", "32",
            "--quant-compute", "fp32");

    [Test]
    public void Export_GroupNormEpsOnRwkv4_IsRefusedNamingTheOptionAndTheVersion()
    {
        string checkpoint = SharedFixtures.RwkvCppModel("4v0-660K", "FP32");
        CliRun run = Run("export", checkpoint, "-o", Path.Combine(_work, "model"), "--group-norm-eps", "1e-5");
        AssertRefused(run, "--group-norm-eps", "RWKV-4");
        Assert.That(run.Stderr, Does.Contain(checkpoint).And.Contain("no group norm"));
    }

    [TestCase("export", "5v2-730K")]
    [TestCase("export", "6v0-1m")]
    [TestCase("inspect", "5v1-730K")]
    public void GroupNormEpsOnAVersionWithGroupNorm_IsAccepted(string command, string model)
    {
        string[] output = command == "export" ? ["-o", "out"] : [];
        AssertAccepted([command, SharedFixtures.RwkvCppModel(model, "FP32"), .. output, "--group-norm-eps", "1e-5"]);
    }

    [Test]
    public void Inspect_GroupNormEpsOnRwkv4OrOnAModelDirectory_IsRefused()
    {
        CliRun onRwkv4 = Run("inspect", SharedFixtures.RwkvCppModel("4v0-660K", "FP32"), "--group-norm-eps", "1e-5");
        CliRun onModel = Run("inspect", _model, "--group-norm-eps", "1e-5");
        AssertRefused(onRwkv4, "--group-norm-eps", "RWKV-4");
        AssertRefused(onModel, "--group-norm-eps", "exported model directory");
    }

    [Test]
    public void Inspect_LoadOnACheckpoint_IsRefused()
    {
        CliRun run = Run("inspect", SharedFixtures.RwkvCppModel(Model, "FP32"), "--load");
        AssertRefused(run, "--load", "model directory");
    }

    [TestCase(new[] { "--device-id", "1" }, "--device-id", "cpu")]
    [TestCase(new[] { "--provider", "cpu", "--device-id", "0" }, "--device-id", "cpu")]
    public void Generate_OptionWithoutEffect_IsAUsageError(string[] options, string refused, string cited) =>
        AssertRefused(Run(["generate", _model, "--prompt", "x", "--max-tokens", "1", .. options]), refused, cited);

    // Sampling settings that greedy decoding or zero penalties ignore run with a warning (scripts pass their settings and
    // vary the temperature, as with Hugging Face's generate); the text must be exactly that of the run without them.
    [TestCase(new[] { "--temperature", "0" }, new[] { "--top-p", "0.5" }, "warning: --top-p has no effect with --temperature 0")]
    [TestCase(new[] { "--temperature", "0" }, new[] { "--top-k", "5", "--seed", "1" }, "warning: --top-k, --seed have no effect with --temperature 0")]
    [TestCase(new[] { "--temperature", "0" }, new[] { "--min-p", "0.1" }, "warning: --min-p has no effect with --temperature 0")]
    [TestCase(new[] { "--seed", "4" }, new[] { "--penalty-decay", "0.5" }, "warning: --penalty-decay has no effect while --presence-penalty and --frequency-penalty are both 0")]
    public void Generate_SamplingOptionWithoutEffect_WarnsAndChangesNothing(string[] baseline, string[] ignored, string warning)
    {
        CliRun plain = Run(["generate", _model, "--prompt", "In the", "--max-tokens", "24", .. baseline]);
        CliRun warned = Run(["generate", _model, "--prompt", "In the", "--max-tokens", "24", .. baseline, .. ignored]);

        Assert.Multiple(() =>
        {
            Assert.That(warned.ExitCode, Is.Zero, warned.Stderr);
            Assert.That(warned.Stderr, Does.StartWith(warning));
            Assert.That(plain.Stderr, Does.Not.Contain("warning:"));
            Assert.That(warned.Stdout, Is.EqualTo(plain.Stdout), "the option had an effect after all");
        });
    }

    [Test]
    public void Chat_PenaltyDecayWithBothPenaltiesZero_Warns()
    {
        CliRun run = RunWithInput("hi\n", "chat", _model, "--presence-penalty", "0", "--frequency-penalty", "0", "--penalty-decay", "0.9", "--max-tokens", "4");
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.That(run.Stderr, Does.Contain("warning: --penalty-decay has no effect while --presence-penalty and --frequency-penalty are both 0."));
    }

    [TestCase("a decay with a penalty", new[] { "--penalty-decay", "0.9", "--presence-penalty", "0.5" })]
    [TestCase("greedy with a penalty", new[] { "--temperature", "0", "--presence-penalty", "0.5" })]
    [TestCase("sampling with truncation and a seed", new[] { "--temperature", "0.5", "--top-p", "0.5", "--seed", "1" })]
    public void Generate_OptionsThatTakeEffect_AreAccepted(string what, string[] options) =>
        AssertAccepted(["generate", _model, "--prompt", "x", .. options]);

    [Test]
    public void Logits_ChunkWithStepMode_IsAUsageError()
    {
        CliRun run = Run("logits", _model, "--tokens", "1,2,3", "--mode", "step", "--chunk", "2", "--out", Path.Combine(_work, "x.npy"));
        AssertRefused(run, "--chunk", "--mode step");
    }

    [Test]
    public void RandomCheckpoint_HeadSizeForRwkv4_IsAUsageError()
    {
        CliRun run = Run("random-checkpoint", "--version", "4", "--layers", "1", "--embd", "64", "--head-size", "32", "-o", Path.Combine(_work, "x.bin"));
        AssertRefused(run, "--head-size", "--version 4");
    }

    // The parser (with every validator) accepts the command line; running it is other tests' business.
    private static void AssertAccepted(params string[] args)
    {
        var parsed = Rwkv.Onnx.Cli.Cli.CreateRootCommand().Parse(args);
        Assert.That(parsed.Errors.Select(e => e.Message), Is.Empty, string.Join(' ', args));
    }

    // Exit 2, one error line that starts with the refused option and cites what makes it useless, and nothing written.
    private void AssertRefused(CliRun run, string refused, string cited) => Assert.Multiple(() =>
    {
        Assert.That(run.ExitCode, Is.EqualTo(2), run.Stderr);
        Assert.That(run.Stderr, Does.StartWith($"error: {refused}: ").And.Contain(cited));
        Assert.That(run.Stderr.Split('\n').Count(line => line.StartsWith("error:", StringComparison.Ordinal)), Is.EqualTo(1));
        Assert.That(run.Stdout, Is.Empty);
        Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty, "nothing written");
    });
}
