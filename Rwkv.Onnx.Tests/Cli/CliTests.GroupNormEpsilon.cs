using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary><c>rwkv-onnx export --group-norm-eps</c> on the tiny RWKV-5.2 fixture, which rwkv.cpp made with epsilon 1e-5.</summary>
public sealed partial class CliTests
{
    private const string Rwkv5Model = "5v2-730K";

    [Test]
    public void Export_GroupNormEps_IsRecordedAndReproducesRwkvCppLogits()
    {
        string output = Path.Combine(_work, "model");
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Rwkv5Model, "FP32"), "-o", output, "--group-norm-eps", "1e-5");
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.Multiple(() =>
        {
            Assert.That(run.Stdout, Does.Contain("RWKV-5.2").And.Contain("heads 8 x 8").And.Contain("group-norm eps 1E-05"));
            Assert.That(RwkvManifest.Load(output).Architecture.GroupNormEpsilon, Is.EqualTo(1e-5f));
            float[] logits = RuntimeLogits(output, [.. SharedFixtures.PromptTokens], all: false, RwkvForwardMode.Step);
            Assert.That(logits, Is.EqualTo(SharedFixtures.ExpectedLogits(Rwkv5Model)).Within(1e-5f));
        });
    }

    [Test]
    public void Export_WithoutGroupNormEps_RecordsThePublishedDefault()
    {
        string output = Path.Combine(_work, "model");
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Rwkv5Model, "FP32"), "-o", output);
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.That(RwkvManifest.Load(output).Architecture.GroupNormEpsilon, Is.EqualTo(64e-5f));
    }

    [TestCase("0")]
    [TestCase("-1e-5")]
    [TestCase("NaN")]
    public void Export_NonPositiveGroupNormEps_IsAUsageErrorNamingTheOption(string value)
    {
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Rwkv5Model, "FP32"), "-o", Path.Combine(_work, "model"), "--group-norm-eps", value);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith("error: --group-norm-eps:"));
            Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
        });
    }
}
