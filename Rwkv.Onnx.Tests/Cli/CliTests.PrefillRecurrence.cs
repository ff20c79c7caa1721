using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary><c>rwkv-onnx export --prefill-recurrence scan|chunked --wkv-chunk L</c>, recorded in the manifest and shown by <c>inspect</c>.</summary>
public sealed partial class CliTests
{
    private const string RecurrenceModel = "7v0-834K";

    // The default chunk length is the version's: 32 for RWKV-7, 16 for RWKV-4/5/6.
    [TestCase(RecurrenceModel, new string[0], "chunked-32")]
    [TestCase("6v0-1m", new string[0], "chunked-16")]
    [TestCase(RecurrenceModel, new[] { "--prefill-recurrence", "scan" }, "scan")]
    [TestCase(RecurrenceModel, new[] { "--prefill-recurrence", "chunked", "--wkv-chunk", "16" }, "chunked-16")]
    [TestCase("6v0-1m", new[] { "--wkv-chunk", "32" }, "chunked-32")]
    public void Export_PrefillRecurrence_IsRecordedAndInspected(string model, string[] options, string expected)
    {
        string output = Path.Combine(_work, "model");
        CliRun run = Run(["export", SharedFixtures.RwkvCppModel(model, "FP32"), "-o", output, .. options]);
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        CliRun inspect = Run("inspect", output);
        Assert.Multiple(() =>
        {
            Assert.That(RwkvManifest.Load(output).PrefillRecurrence, Is.EqualTo(expected));
            Assert.That(run.Stdout, Does.Contain($"prefill recurrence {expected}"));
            Assert.That(inspect.Stdout, Does.Contain($"prefill recurrence {expected}"));
            float[] logits = RuntimeLogits(output, [.. SharedFixtures.PromptTokens], all: false, RwkvForwardMode.Prefill);
            Assert.That(logits, Is.EqualTo(SharedFixtures.ExpectedLogits(model)).Within(1e-5f));
        });
    }

    [TestCase("--prefill-recurrence", "parallel")]
    [TestCase("--wkv-chunk", "12")]
    [TestCase("--wkv-chunk", "128")]
    public void Export_BadPrefillRecurrenceOption_IsAUsageErrorNamingTheOption(string option, string value)
    {
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(RecurrenceModel, "FP32"), "-o", Path.Combine(_work, "model"), option, value);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith($"error: {option}:"));
            Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
        });
    }
}
