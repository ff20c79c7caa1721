using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.RandomCheckpoints;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>
/// RWKV-4 in float16. Deep layers of real RWKV-4 models write residual updates beyond float16's 65504, so ChatRWKV
/// halves the residual stream every 6 layers and shrinks those layers' output weights to match; fp16 exports do the
/// same (<see cref="ExportOptions.ResidualRescaleEvery"/>). The model here is generated with a residual stream that
/// grows with depth. The CPU provider computes float16 MatMuls in float32 (ONNX Runtime removes the casts around them),
/// so the float16 arithmetic a GPU would do is emulated by <see cref="ReferenceRwkv4{T}"/>; the exported graphs are
/// checked to compute exactly what that reference computes.
/// </summary>
[TestFixture]
public sealed class Rwkv4Fp16RescaleTests
{
    private const int Layers = 24, Width = 64, Vocab = 64, Ffn = 128, Tokens = 200;
    private const float Growth = 1.55f;

    private string _work = "";
    private string _checkpoint = "";
    private int[] _tokens = [];

    [OneTimeSetUp]
    public void WriteModel()
    {
        _work = Path.Combine(Path.GetTempPath(), "rwkv4-fp16-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_work);
        _checkpoint = Path.Combine(_work, "rwkv4-deep.bin");
        RandomCheckpoint.WriteRwkv4(_checkpoint, Layers, Width, Vocab, Ffn, seed: 21, depthGrowth: Growth);
        var random = new Random(22);
        _tokens = [.. Enumerable.Range(0, Tokens).Select(_ => random.Next(Vocab))];
    }

    [OneTimeTearDown]
    public void Cleanup() => Directory.Delete(_work, recursive: true);

    [Test]
    public void HalfPrecisionArithmetic_OverflowsWithoutRescaling_AndStaysCloseWithIt()
    {
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(_checkpoint);
        float[][] exact = Run(ReferenceRwkv4<float>.Load(checkpoint), out double exactLargest);
        float[][] plain = Run(ReferenceRwkv4<float>.Load(checkpoint, halfLinears: true), out _);
        float[][] rescaled = Run(ReferenceRwkv4<float>.Load(checkpoint, halfLinears: true, rescaleEvery: 6), out double rescaledLargest);

        int firstBad = Array.FindIndex(plain, logits => !logits.All(float.IsFinite));
        float maxError = MaxError(rescaled, exact);
        TestContext.Out.WriteLine($"largest matmul output {exactLargest:G4} unscaled, {rescaledLargest:G4} rescaled; " +
            $"float16 without rescaling: first non-finite logits at token {firstBad}; with: max |Δlogit| {maxError:G3}");
        Assert.Multiple(() =>
        {
            Assert.That(exactLargest, Is.GreaterThan(65504), "the model must overflow float16 unless rescaled");
            Assert.That(rescaledLargest, Is.LessThan(65504 / 2.0));
            Assert.That(firstBad, Is.Not.EqualTo(-1), "float16 without rescaling produces non-finite logits");
            Assert.That(rescaled.All(logits => logits.All(float.IsFinite)), "float16 with rescaling stays finite");
            Assert.That(maxError, Is.LessThan(0.06f)); // measured 0.0457 (largest output 1.15e5 unscaled, 1.44e4 rescaled)
        });
    }

    [Test]
    public void Fp16Export_RescalesByDefault_AndMatchesTheRescaledReferenceOverALongSequence()
    {
        string dir = Path.Combine(_work, "fp16");
        RwkvExporter.Export(_checkpoint, dir, new ExportOptions { WeightDType = WeightDType.Float16 });
        using RwkvModel model = RwkvModel.Load(dir);
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(_checkpoint);
        float[][] exact = Run(ReferenceRwkv4<float>.Load(checkpoint), out _);

        float[] logits = AllLogits(model, RwkvForwardMode.Prefill);
        float[] step = AllLogits(model, RwkvForwardMode.Step);
        float maxError = MaxError(Split(logits), exact);
        TestContext.Out.WriteLine($"fp16 export vs float reference: max |Δlogit| {maxError:G3}");
        Assert.Multiple(() =>
        {
            Assert.That(model.Manifest.ResidualRescaleEvery, Is.EqualTo(6));
            Assert.That(logits.All(float.IsFinite));
            Assert.That(maxError, Is.LessThan(0.05f)); // measured 0.0384: float16 weights, float32 arithmetic on CPU
            Assert.That(step, Is.EqualTo(logits).Within(1e-4f));
        });
    }

    [Test]
    public void RescaledGraph_ComputesTheSameLogitsAsTheUnscaledOne()
    {
        // In float32 the halving changes nothing but rounding and the layer norms' epsilon: the graphs' rescale is exact.
        string plainDir = Path.Combine(_work, "fp32"), rescaledDir = Path.Combine(_work, "fp32-rescaled");
        RwkvExporter.Export(_checkpoint, plainDir, new ExportOptions());
        RwkvExporter.Export(_checkpoint, rescaledDir, new ExportOptions { ResidualRescaleEvery = 6 });
        using RwkvModel plain = RwkvModel.Load(plainDir), rescaled = RwkvModel.Load(rescaledDir);
        float[] a = AllLogits(plain, RwkvForwardMode.Prefill), b = AllLogits(rescaled, RwkvForwardMode.Prefill);
        TestContext.Out.WriteLine($"rescaled vs plain fp32 export: max |Δlogit| {MaxError(Split(a), Split(b)):G3}");
        Assert.Multiple(() =>
        {
            Assert.That(plain.Manifest.ResidualRescaleEvery, Is.Null);
            Assert.That(rescaled.Manifest.ResidualRescaleEvery, Is.EqualTo(6));
            Assert.That(b, Is.EqualTo(a).Within(1e-4f)); // measured 2.3e-5
        });
    }

    private float[][] Run(ReferenceRwkv4<float> reference, out double largest)
    {
        float[][] logits = [.. _tokens.Select(reference.Forward)];
        largest = reference.LargestLinearOutput;
        return logits;
    }

    private float[] AllLogits(RwkvModel model, RwkvForwardMode mode)
    {
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState();
        var logits = new float[_tokens.Length * Vocab];
        runner.ForwardAll(_tokens, state, logits, mode);
        return logits;
    }

    private static float[][] Split(float[] logits) => [.. logits.Chunk(Vocab)];

    private static float MaxError(float[][] a, float[][] b) =>
        a.Zip(b, (x, y) => x.Zip(y, (p, q) => MathF.Abs(p - q)).Max()).Max();
}
