using System.Security.Cryptography;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>
/// Exports of the other checkpoint formats of the tiny fixture models: the original-layout <c>.pth</c> files,
/// the Hugging Face RWKV-4 directory, and rwkv.cpp's Q5_0/Q5_1 files. Each export runs the prompt in step and
/// in prefill mode and is compared with the reference implementation of its version fed the same checkpoint
/// (which pins what the export computes) and with rwkv.cpp's expected FP32 logits (which bounds the drift).
/// </summary>
[TestFixture]
public sealed class CheckpointFormatParityTests
{
    private static readonly RwkvForwardMode[] s_modes = [RwkvForwardMode.Step, RwkvForwardMode.Prefill];
    private string _work = "";

    [OneTimeSetUp]
    public void CreateWorkDirectory()
    {
        _work = Path.Combine(Path.GetTempPath(), "rwkv-format-parity", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_work);
    }

    [OneTimeTearDown]
    public void DeleteWorkDirectory() => Directory.Delete(_work, recursive: true);

    /// <summary>A checkpoint file of a fixture model and what its export must reproduce.</summary>
    /// <param name="Model">The fixture model, e.g. <c>7v0-834K</c>.</param>
    /// <param name="File">Path under shared/fixtures.</param>
    /// <param name="MaxDrift">Max |Δlogit| against rwkv.cpp's expected FP32 logits: measured, plus margin.</param>
    /// <param name="RwkvCppSignedSum">
    /// rwkv.cpp's own reference signed sum of (logit − expected) for this file (fixtures README), when its test
    /// criterion |Σ| ≤ 1.05 |reference| applies; null when it does not (see <see cref="Quantized"/>).
    /// </param>
    public sealed record FormatCase(string Model, string File, float MaxDrift, double? RwkvCppSignedSum = null)
    {
        public override string ToString() => File;
    }

    // fp32 and bf16 files hold exactly the FP32 .bin's values (TorchZipReaderTests): measured 3.8e-6 at most, so the
    // FP32 parity bound 1e-5 (the issue asks 1e-4). The v4 fp16 .pth and the HF files (converted from it) round every
    // tensor to fp16, time_decay and layer norms included: measured 1.63e-3, the FP16 .bin's own rounding level.
    public static readonly FormatCase[] OriginalLayouts =
    [
        new("4v0-660K", "pth/tiny-rwkv-4v0-660K-fp32.pth", 1e-5f),
        new("4v0-660K", "pth/tiny-rwkv-4v0-660K-fp16.pth", 2.5e-3f),
        new("4v0-660K", "hf/rwkv-4-tiny-660K", 2.5e-3f),
        new("4v0-660K", "hf/rwkv-4-tiny-660K/pytorch_model.bin", 2.5e-3f),
        new("5v1-730K", "pth/tiny-rwkv-5v1-730K-fp32.pth", 1e-5f),
        new("5v2-730K", "pth/tiny-rwkv-5v2-730K-fp32.pth", 1e-5f),
        new("6v0-1m", "pth/tiny-rwkv-6v0-1m-fp32.pth", 1e-5f),
        new("6v0-1m", "pth/tiny-rwkv-6v0-1m-bf16.pth", 1e-5f),
        new("7v0-834K", "pth/tiny-rwkv-7v0-834K-fp32.pth", 1e-5f),
        new("7v0-834K", "pth/tiny-rwkv-7v0-834K-bf16.pth", 1e-5f),
    ];

    // Measured max |Δ| vs expected (signed sum; rwkv.cpp's reference sum): 4v0 Q5_0 0.123 (-0.168; -0.170),
    // Q5_1 0.096 (+0.223; +0.278); 5v1 Q5_0 1.74 (-158.9; -163.44), Q5_1 0.279 (-15.29; -18.02); 5v2 Q5_0 0.510
    // (+23.53; +25.27), Q5_1 0.371 (+45.29; +48.07); 6v0 Q5_0 0.125 (-3.70; -5.838), Q5_1 0.118 (-17.51; -17.05);
    // 7v0 Q5_0 0.0037 (-0.0753; -0.0636), Q5_1 0.0042 (-0.0733; -0.0647). Bounds are the measurements plus about
    // half again. The 7v0 files miss rwkv.cpp's signed-sum bound (by 13% and 8%) although they are exactly the
    // weights rwkv.cpp's test makes (ggml's reference quantizer on the FP32 file reproduces them bit for bit): ggml's
    // quantized matmuls also quantize the activations (to Q8_0 for Q5_0), and ReferenceRwkv7 with Q8_0 activations
    // gives -0.0637, rwkv.cpp's own sum. The export computes with float32 activations, so its drift is the weights'
    // alone; the check that matters is the match with the reference on the dequantized weights.
    public static readonly FormatCase[] Quantized =
    [
        new("4v0-660K", "rwkv-cpp/tiny-rwkv-4v0-660K-Q5_0.bin", 0.2f, -0.170404),
        new("4v0-660K", "rwkv-cpp/tiny-rwkv-4v0-660K-Q5_1.bin", 0.15f, +0.278034),
        new("5v1-730K", "rwkv-cpp/tiny-rwkv-5v1-730K-Q5_0.bin", 2.5f, -163.44),
        new("5v1-730K", "rwkv-cpp/tiny-rwkv-5v1-730K-Q5_1.bin", 0.4f, -18.02),
        new("5v2-730K", "rwkv-cpp/tiny-rwkv-5v2-730K-Q5_0.bin", 0.75f, +25.27),
        new("5v2-730K", "rwkv-cpp/tiny-rwkv-5v2-730K-Q5_1.bin", 0.55f, +48.07),
        new("6v0-1m", "rwkv-cpp/tiny-rwkv-6v0-1m-Q5_0.bin", 0.2f, -5.838),
        new("6v0-1m", "rwkv-cpp/tiny-rwkv-6v0-1m-Q5_1.bin", 0.2f, -17.05),
        new("7v0-834K", "rwkv-cpp/tiny-rwkv-7v0-834K-Q5_0.bin", 0.006f),
        new("7v0-834K", "rwkv-cpp/tiny-rwkv-7v0-834K-Q5_1.bin", 0.006f),
    ];

    [TestCaseSource(nameof(OriginalLayouts))]
    public void OriginalLayoutExport_ReproducesReferenceAndExpectedLogits(FormatCase c) => Check(c);

    [TestCaseSource(nameof(Quantized))]
    public void QuantizedExport_ReproducesReferenceOnDequantizedWeights(FormatCase c) => Check(c);

    private void Check(FormatCase c)
    {
        string checkpoint = Path.Combine(SharedFixtures.FixturesDirectory, c.File);
        float? epsilon = c.Model.StartsWith('5') ? 1e-5f : null; // fixtures README: the v5 models use rwkv.cpp's 1e-5
        string output = Path.Combine(_work, Guid.NewGuid().ToString("N"));
        RwkvManifest manifest = RwkvExporter.Export(checkpoint, output, new ExportOptions { GroupNormEpsilon = epsilon });
        using RwkvModel model = RwkvModel.Load(output);
        string weights = Directory.Exists(checkpoint) ? Path.Combine(checkpoint, "model.safetensors") : checkpoint; // the HF directory's preferred weights
        using (Assert.EnterMultipleScope())
        {
            Assert.That(manifest.Source.Format, Is.EqualTo(c.File switch
            {
                _ when c.File.StartsWith("rwkv-cpp/", StringComparison.Ordinal) => "rwkv.cpp",
                _ when c.File.EndsWith(".pth", StringComparison.Ordinal) => "pth",
                _ when c.File.EndsWith("pytorch_model.bin", StringComparison.Ordinal) => "hf-pth",
                _ => "hf-safetensors",
            }));
            Assert.That(manifest.Source.File, Is.EqualTo(Path.GetFileName(c.File)));
            Assert.That(manifest.Source.Sha256, Is.EqualTo(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(weights)))));
        }
        float[] reference = ReferenceLogits(checkpoint, c.Model, epsilon ?? 64e-5f);
        float[] expected = SharedFixtures.ExpectedLogits(c.Model);

        foreach (RwkvForwardMode mode in s_modes)
        {
            using RwkvRunner runner = model.CreateRunner();
            using RwkvState state = model.CreateState();
            var logits = new float[model.VocabSize];
            runner.Forward(SharedFixtures.PromptTokens, state, logits, mode);
            double signedSum = 0, maxDrift = 0, maxReference = 0;
            for (int i = 0; i < logits.Length; i++)
            {
                signedSum += logits[i] - expected[i];
                maxDrift = Math.Max(maxDrift, Math.Abs(logits[i] - expected[i]));
                maxReference = Math.Max(maxReference, Math.Abs(logits[i] - reference[i]));
            }
            TestContext.Out.WriteLine($"{c.File} {mode}: vs reference max {maxReference:g3}; vs expected max {maxDrift:g4}, signed sum {signedSum:g4}");
            // Measured at most 5.3e-6 against the reference fed the same (rounded or dequantized) weights.
            Assert.That(logits, Is.EqualTo(reference).Within(2e-5f), $"{mode}: against the reference on the same checkpoint");
            Assert.That(logits, Is.EqualTo(expected).Within(c.MaxDrift), $"{mode}: against rwkv.cpp's expected FP32 logits");
            if (c.RwkvCppSignedSum is { } rwkvCppSum)
            {
                Assert.That(Math.Abs(signedSum), Is.LessThanOrEqualTo(1.05 * Math.Abs(rwkvCppSum)), $"{mode}: rwkv.cpp's signed-sum criterion");
            }
        }
    }

    private static float[] ReferenceLogits(string path, string model, float groupNormEpsilon)
    {
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(path);
        Func<int, float[]> forward = model[0] switch
        {
            '4' => ReferenceRwkv4<double>.Load(checkpoint).Forward,
            '5' => ReferenceRwkv5.Load(checkpoint, groupNormEpsilon).Forward,
            '6' => ReferenceRwkv6.Load(checkpoint, groupNormEpsilon).Forward,
            _ => ReferenceRwkv7.Load(checkpoint).Forward,
        };
        float[] logits = [];
        foreach (int token in SharedFixtures.PromptTokens)
        {
            logits = forward(token);
        }
        return logits;
    }
}
