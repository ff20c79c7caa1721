using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Graph;
using Rwkv.Onnx.Export.Quantization;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Tests.Export.Quantization;

/// <summary>
/// Every packing the exporter writes (symmetric or with zero points, max-scaled or searched, 4 or 8 bits) read back by
/// ONNX Runtime's MatMulNBits: one node against a float MatMul of the same weights dequantized by
/// <see cref="BlockQuantizer.Dequantize(BlockQuantized, int, int, int, int)"/>.
/// </summary>
[TestFixture]
public sealed class MatMulNBitsRoundTripTests
{
    private static readonly BlockRounding[] s_roundings = Enum.GetValues<BlockRounding>();

    // Float activations (accuracy_level 1): MatMulNBits dequantizes exactly what we packed, so the products agree to
    // float32 summation order.
    [Test]
    public void FloatCompute_MatchesTheDequantizedWeights(
        [Values(4, 8)] int bits, [ValueSource(nameof(s_roundings))] BlockRounding rounding, [Values(16, 32, 128)] int blockSize)
    {
        (float[] quantized, float[] reference) = Run(bits, rounding, blockSize, k: 320, n: 48, rows: 3, accuracyLevel: 1);
        Assert.That(MaxAbsDifference(quantized, reference), Is.LessThanOrEqualTo(1e-5));
    }

    // A K that is no multiple of the block: the last block is padded, with the zero point's code for asymmetric blocks.
    [Test]
    public void PartialLastBlock_MatchesTheDequantizedWeights([Values(4, 8)] int bits, [ValueSource(nameof(s_roundings))] BlockRounding rounding)
    {
        (float[] quantized, float[] reference) = Run(bits, rounding, 32, k: 80, n: 5, rows: 2, accuracyLevel: 1);
        Assert.That(MaxAbsDifference(quantized, reference), Is.LessThanOrEqualTo(1e-5));
    }

    // The zero points reach the kernel: the same codes and scales with every zero point moved by one step give other
    // products, so a zero point input that was ignored could not pass the tests above.
    [TestCase(4)]
    [TestCase(8)]
    public void ZeroPoints_ChangeTheProduct(int bits)
    {
        (float[] quantized, float[] reference) = Run(bits, BlockRounding.ZeroPoint, 32, k: 64, n: 4, rows: 1, accuracyLevel: 1, shiftZeroPoints: true);
        Assert.That(MaxAbsDifference(quantized, reference), Is.GreaterThan(1e-2));
    }

    // Int8 activations (accuracy_level 4), the default arithmetic: each block of activations (of the weights' block size,
    // 16 for the int8 default) is rounded to multiples of max|x| / 127, so an
    // output can move by at most Σ |w| · step / 2 over its blocks; the weights are the same.
    [Test]
    public void Int8Compute_StaysWithinTheActivationRounding(
        [Values(4, 8)] int bits, [ValueSource(nameof(s_roundings))] BlockRounding rounding, [Values(16, 32)] int block)
    {
        const int K = 256, N = 16, Rows = 2;
        (float[] quantized, float[] reference, float[] x, float[] w) = RunWithInputs(bits, rounding, block, K, N, Rows, accuracyLevel: 4);
        for (int r = 0; r < Rows; r++)
        {
            for (int j = 0; j < N; j++)
            {
                double bound = 0;
                for (int b = 0; b < K / block; b++)
                {
                    double step = x.Skip((r * K) + (b * block)).Take(block).Max(MathF.Abs) / 127.0;
                    bound += w.Skip((j * K) + (b * block)).Take(block).Sum(v => Math.Abs(v)) * step / 2;
                }
                Assert.That(Math.Abs(quantized[(r * N) + j] - reference[(r * N) + j]), Is.LessThanOrEqualTo((bound * 1.01) + 1e-5), $"row {r}, column {j}");
            }
        }
    }

    // ... and the rounding happens: accuracy_level 4 is not silently run in float (a kernel without int8 support for a
    // block size would fall back to float activations, and the accuracy figures of ACCURACY.md would not be int8's).
    [Test]
    public void Int8Compute_RoundsTheActivations([Values(4, 8)] int bits, [Values(16, 32)] int block)
    {
        (float[] quantized, float[] reference) = Run(bits, BlockRounding.Search, block, k: 256, n: 16, rows: 2, accuracyLevel: 4);
        Assert.That(MaxAbsDifference(quantized, reference), Is.GreaterThan(1e-4));
    }

    private static (float[] Quantized, float[] Reference) Run(int bits, BlockRounding rounding, int blockSize, int k, int n, int rows, int accuracyLevel,
        bool shiftZeroPoints = false)
    {
        (float[] quantized, float[] reference, _, _) = RunWithInputs(bits, rounding, blockSize, k, n, rows, accuracyLevel, shiftZeroPoints);
        return (quantized, reference);
    }

    // The quantized and float products, the activations and the dequantized [n, k] weights.
    private static (float[] Quantized, float[] Reference, float[] X, float[] Dequantized) RunWithInputs(int bits, BlockRounding rounding, int blockSize,
        int k, int n, int rows, int accuracyLevel, bool shiftZeroPoints = false)
    {
        var random = new Random(11);
        // Skewed weights (a per-row offset) so that zero points have something to do.
        float[] weight = [.. Enumerable.Range(0, n * k).Select(i => (float)(random.NextDouble() - 0.3) * (1 + (i / k % 3)))];
        float[] x = [.. Enumerable.Range(0, rows * k).Select(_ => (float)((random.NextDouble() * 2) - 1))];
        BlockQuantized q = BlockQuantizer.Quantize(weight, n, k, blockSize, bits, rounding);
        float[] dequantized = BlockQuantizer.Dequantize(q, n, k, blockSize, bits);
        byte[]? zeroPoints = q.ZeroPoints;
        if (shiftZeroPoints)
        {
            zeroPoints = [.. zeroPoints!.Select(z => bits == 8 ? (byte)(z ^ 1) : (byte)(z ^ 0x11))];
        }

        string dir = Path.Combine(TestContext.CurrentContext.WorkDirectory, $"nbits-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string weightsPath = Path.Combine(dir, "w.data");
            var weights = new ExternalWeights(weightsPath);
            weights.AddQuantized("w", q.Codes, q.Scales, k, n, bits, blockSize, accuracyLevel, zeroPoints);
            weights.Add("w_float", Transpose(dequantized, n, k), [k, n], ElementType.Float);
            weights.Dispose();
            var g = new OnnxGraph("t", 17, weights);
            Value input = g.Input("x", ElementType.Float, rows, k);
            g.Output(Linear(input, "w"), "quantized", ElementType.Float, rows, n);
            g.Output(MatMul(input, g.Weight("w_float")), "reference", ElementType.Float, rows, n);
            string path = Path.Combine(dir, "m.onnx");
            OnnxModelWriter.Write(g, path, new Dictionary<string, string>());
            using var session = new InferenceSession(path);
            using IDisposableReadOnlyCollection<DisposableNamedOnnxValue> results =
                session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x, [rows, k]))]);
            Dictionary<string, float[]> y = results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray());
            return (y["quantized"], y["reference"], x, dequantized);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static double MaxAbsDifference(float[] a, float[] b) => a.Zip(b, (p, r) => Math.Abs((double)p - r)).Max();

    private static float[] Transpose(float[] m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                t[(j * rows) + i] = m[(i * cols) + j];
            }
        }
        return t;
    }
}
