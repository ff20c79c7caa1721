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
            Assert.That(run.Stdout, Does.Contain("weights int4, head fp16 (block 64, fp32 compute, searched scales)"));
            Assert.That((manifest.WeightDType, manifest.HeadDType, manifest.BlockSize, manifest.QuantizedCompute), Is.EqualTo(("int4", "fp16", (int?)64, "fp32")));
            Assert.That(inspect.ExitCode, Is.Zero, inspect.Stderr);
            Assert.That(inspect.Stdout, Does.Contain("dtype int4 (head fp16, block 64, fp32 compute, searched scales)"));
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

    [Test]
    public void Export_QuantSpec_NamesTheLayoutInTheSummaryTheManifestAndInspect()
    {
        string output = Path.Combine(_work, "model");
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output,
            "--quant", "int4:block=32,rounding=zero-point-search,head=int8,int8-roles=att-value+ffn-value");
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        RwkvManifest manifest = RwkvManifest.Load(output);
        CliRun inspect = Run("inspect", output);
        const string Layout = "block 32, int8 compute, zero points, searched scales, int8 att-value+ffn-value";
        Assert.Multiple(() =>
        {
            Assert.That(run.Stdout, Does.Contain($"weights int4, head int8 ({Layout})"));
            Assert.That((manifest.WeightDType, manifest.HeadDType, manifest.BlockSize, manifest.BlockRounding), Is.EqualTo(("int4", "int8", (int?)32, "zero-point-search")));
            Assert.That(manifest.Int8Roles, Is.EqualTo(new[] { "att-value", "ffn-value" }));
            Assert.That(manifest.QuantLayout, Is.EqualTo("int4:block=32,rounding=zero-point-search,head=int8,int8-roles=att-value+ffn-value,compute=int8"));
            Assert.That(inspect.Stdout, Does.Contain($"dtype int4 (head int8, {Layout})"));
        });
    }

    [Test]
    public void Export_QuantPreset_IsNamedAfterTheLayout()
    {
        string output = Path.Combine(_work, "model");
        CliRun run = Run("export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", output, "--quant", "int8", "--block-size", "64");
        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        RwkvManifest manifest = RwkvManifest.Load(output);
        Assert.Multiple(() =>
        {
            // --block-size overrides the preset's, so the layout is no longer the preset and is written in full.
            Assert.That(manifest.BlockSize, Is.EqualTo(64));
            Assert.That(manifest.QuantLayout, Does.StartWith("int8:block=64,"));
        });
    }

    [TestCase(new[] { "--quant", "int4:block=48" }, "error: --quant: Quantization layout 'int4:block=48': 'block=48' is not valid; expected a block size that is a power of two from 16 to 256.")]
    [TestCase(new[] { "--quant", "int4", "--dtype", "int8" }, "error: --quant: layout 'int4' is int4, but --dtype is int8; give --quant alone (it sets the dtype).")]
    public void Export_BadQuant_IsAUsageErrorNamingIt(string[] options, string message)
    {
        CliRun run = Run(["export", SharedFixtures.RwkvCppModel(Model, "FP32"), "-o", Path.Combine(_work, "model"), .. options]);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith(message));
            Assert.That(Directory.GetFileSystemEntries(_work), Is.Empty);
        });
    }
}
