using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

public sealed partial class CliTests
{
    // Options with a range check must still report an unparsable value as a usage error: their validators used to
    // read the value regardless and crashed with a stack trace.
    [TestCase("--block-size", "abc")]
    [TestCase("--rescale-every", "abc")]
    [TestCase("--wkv-chunk", "x")]
    [TestCase("--group-norm-eps", "abc")]
    public void Export_NonNumericValueOfARangeCheckedOption_IsAUsageErrorNamingIt(string option, string value)
    {
        string output = Path.Combine(_work, "model");
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output, option, value);
        AssertParseError(run, option, value);
        Assert.That(Directory.Exists(output), Is.False);
    }

    [TestCase("--threads", "abc")]
    [TestCase("--top-p", "zz")]
    [TestCase("--top-k", "1.5")]
    public void Generate_NonNumericValueOfARangeCheckedOption_IsAUsageErrorNamingIt(string option, string value) =>
        AssertParseError(Run("generate", _model, "--prompt", "hi", option, value), option, value);

    private static void AssertParseError(CliRun run, string option, string value) => Assert.Multiple(() =>
    {
        Assert.That(run.ExitCode, Is.EqualTo(2));
        Assert.That(run.Stderr, Does.StartWith($"error: {option}: '{value}' is not a ").And.Contain("; expected "));
        Assert.That(run.Stderr, Does.Not.Contain("   at "), "no stack trace");
        Assert.That(run.Stderr, Does.Not.Contain("System."), "no .NET type names");
    });
}
