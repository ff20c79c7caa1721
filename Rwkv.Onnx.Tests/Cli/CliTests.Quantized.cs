using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

public sealed partial class CliTests
{
    [Test]
    public void Export_Int4WithFp16HeadAndBlock64_RecordsAllThreeInTheManifest()
    {
        string output = Path.Combine(_work, "model");
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output, "--dtype", "int4", "--head-dtype", "fp16",
            "--block-size", "64", "--quant-compute", "fp32");
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        RwkvManifest manifest = RwkvManifest.Load(output);
        CliRun inspect = Run("inspect", output, "--load");
        Assert.Multiple(() =>
        {
            Assert.That(run.Stdout, Does.Contain("weights int4, head fp16 (block 64, fp32 compute)"));
            Assert.That((manifest.WeightDType, manifest.HeadDType, manifest.BlockSize, manifest.QuantizedCompute), Is.EqualTo(("int4", "fp16", (int?)64, "fp32")));
            Assert.That(inspect.ExitCode, Is.Zero, inspect.Stderr);
            Assert.That(inspect.Stdout, Does.Contain("dtype int4 (head fp16, block 64, fp32 compute)"));
            Assert.That(inspect.Stdout, Does.Match(@"size on disk \d+(\.\d)? [KM]iB:").And.Match(@"weights\.onnx\.data +\d+(\.\d)? [KM]iB"));
            Assert.That(inspect.Stdout, Does.Match(@"load time \d+\.\d\d s"));
            Assert.That(inspect.Stdout, Does.Match(@"private memory of the loaded model -?\d+(\.\d+)? (B|KiB|MiB|GiB)"));
        });
    }

    [Test]
    public void Export_Int8_DefaultsToInt8Compute()
    {
        string output = Path.Combine(_work, "model");
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output, "--dtype", "int8");
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        Assert.That(RwkvManifest.Load(output).QuantizedCompute, Is.EqualTo("int8"));
    }

    [TestCase("--block-size", "48", "error: --block-size: 48 is not a power of two from 16 to 256.")]
    [TestCase("--head-dtype", "bf16", "error: --head-dtype: 'bf16' is not a weight type; expected fp32, fp16, int8 or int4.")]
    [TestCase("--quant-compute", "fp16", "error: --quant-compute: 'fp16' is not a quantized arithmetic; expected int8 or fp32.")]
    public void Export_BadQuantizationOption_IsAUsageErrorNamingIt(string option, string value, string message)
    {
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", Path.Combine(_work, "model"), "--dtype", "int8", option, value);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith(message));
            Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
        });
    }
}
