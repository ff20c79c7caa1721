using System.Buffers.Binary;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.Graph;
using Rwkv.Onnx.Export.Quantization;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Tests.Export.Quantization;

/// <summary>
/// <see cref="Ops.GgmlLinear"/> through ONNX Runtime against an independent C# transcription of ggml's CPU arithmetic
/// (ggml c8bd0fe, rwkv.cpp 4358e70, x86 AVX2): the activation row quantized as <c>quantize_row_q8_0</c>/<c>_q8_1</c> do
/// it, the weight row read back from its Q8_0/Q4_0/Q5_1 block bytes, integer sums per block times the float16 scales as
/// <c>ggml_vec_dot_q8_0_q8_0</c>, <c>_q4_0_q8_0</c> and <c>_q5_1_q8_1</c> do.
/// </summary>
[TestFixture]
public sealed class GgmlLinearTests
{
    private const int K = 256, N = 24, Block = 32;

    // Relative to Σ over blocks of |block product| (the size of the terms summed), since the float32 summation order is
    // all that may differ; measured 4.8e-7 (Q8_0), 5.5e-7 (Q4_0), 2.6e-6 (Q5_1), and 6.8e-4 for Q5_1 if s were not rounded
    // to float16.
    private const double Tolerance = 1e-5;

    [TestCase(EmulatedBlockFormat.Q8_0)]
    [TestCase(EmulatedBlockFormat.Q4_0)]
    [TestCase(EmulatedBlockFormat.Q5_1)]
    public void EmulatedLinear_MatchesGgmlsDot(EmulatedBlockFormat format)
    {
        (float[] x, float[] w) = Inputs();
        float[] y = RunEmulated(x, w, format, EmulatedArithmetic.Ggml);
        (double[] reference, double[] magnitude) = GgmlReference(x, w, format);
        for (int i = 0; i < y.Length; i++)
        {
            Assert.That(Math.Abs(y[i] - reference[i]), Is.LessThanOrEqualTo(Tolerance * magnitude[i]), $"output {i}: {y[i]} vs ggml {reference[i]}");
        }
    }

    // The weights alone (float activations) miss ggml's products by far more than the tolerance above, so the test above
    // sees the activation rounding.
    [TestCase(EmulatedBlockFormat.Q8_0)]
    [TestCase(EmulatedBlockFormat.Q4_0)]
    [TestCase(EmulatedBlockFormat.Q5_1)]
    public void WeightsOnly_MissesGgmlsDot(EmulatedBlockFormat format)
    {
        (float[] x, float[] w) = Inputs();
        float[] y = RunEmulated(x, w, format, EmulatedArithmetic.WeightsOnly);
        (double[] reference, double[] magnitude) = GgmlReference(x, w, format);
        double worst = y.Select((v, i) => Math.Abs(v - reference[i]) / magnitude[i]).Max();
        Assert.That(worst, Is.GreaterThan(100 * Tolerance));
    }

    // Four rows of K activations ([2, 2, K], so leading axes are kept): random blocks of different scales and signs, a
    // block whose codes fall on halves (max 127, so the multiplier is exactly 1: 2.5 rounds to 2, −3.5 to −4, where C's
    // roundf would give 3 and −4) and an all-zero block. Weights [N, K] with a per-row offset for Q5_1's minimums.
    private static (float[] X, float[] W) Inputs()
    {
        var random = new Random(20);
        float[] x = [.. Enumerable.Range(0, 4 * K).Select(i => (float)((random.NextDouble() * 2) - 0.8) * (1 + (i / Block % 5)))];
        float[] halves = [127f, 2.5f, -3.5f, 0.5f, -0.5f, 1.5f, 126.5f, -126.5f];
        halves.CopyTo(x.AsSpan(K + Block));
        Array.Clear(x, (2 * K) + (3 * Block), Block);
        float[] w = [.. Enumerable.Range(0, N * K).Select(i => (float)(random.NextDouble() - 0.35) * (0.5f + (i / K % 4)))];
        return (x, w);
    }

    private static float[] RunEmulated(float[] x, float[] w, EmulatedBlockFormat format, EmulatedArithmetic arithmetic)
    {
        string dir = Path.Combine(TestContext.CurrentContext.WorkDirectory, $"ggml-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var weights = new ExternalWeights(Path.Combine(dir, "w.data"));
            if (arithmetic == EmulatedArithmetic.WeightsOnly)
            {
                weights.Add("w", Transpose(GgmlBlockQuantizer.RoundTrip(w, format), N, K), [K, N], ElementType.Float);
            }
            else if (format == EmulatedBlockFormat.Q5_1)
            {
                (float[] scaled, float[] minimums) = GgmlBlockQuantizer.SplitQ5_1(w);
                weights.AddGgmlEmulated("w", Transpose(scaled, N, K), Transpose(minimums, N, K / Block), K, N);
            }
            else
            {
                weights.AddGgmlEmulated("w", Transpose(GgmlBlockQuantizer.RoundTrip(w, format), N, K), null, K, N);
            }
            weights.Dispose();
            var g = new OnnxGraph("t", 17, weights);
            Value input = g.Input("x", ElementType.Float, 2, 2, K);
            g.Output(Linear(input, "w"), "y", ElementType.Float, 2, 2, N);
            string path = Path.Combine(dir, "m.onnx");
            OnnxModelWriter.Write(g, path, new Dictionary<string, string>());
            using var session = new InferenceSession(path);
            using IDisposableReadOnlyCollection<DisposableNamedOnnxValue> results =
                session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x, [2, 2, K]))]);
            return results[0].AsTensor<float>().ToArray();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // ggml's product of each activation row with each weight row, and Σ |block product| for the tolerance.
    private static (double[] Y, double[] Magnitude) GgmlReference(float[] x, float[] w, EmulatedBlockFormat format)
    {
        int rows = x.Length / K;
        TensorDType type = format switch
        {
            EmulatedBlockFormat.Q8_0 => TensorDType.Q8_0,
            EmulatedBlockFormat.Q4_0 => TensorDType.Q4_0,
            _ => TensorDType.Q5_1,
        };
        var y = new double[rows * N];
        var magnitude = new double[rows * N];
        for (int r = 0; r < rows; r++)
        {
            ActivationBlock[] a = [.. Enumerable.Range(0, K / Block).Select(b => QuantizeQ8(x.AsSpan((r * K) + (b * Block), Block)))];
            for (int j = 0; j < N; j++)
            {
                byte[] blocks = GgmlBlockQuantizer.Quantize(w.AsSpan(j * K, K), type);
                int size = blocks.Length / (K / Block);
                for (int b = 0; b < K / Block; b++)
                {
                    WeightBlock wb = ReadWeightBlock(blocks.AsSpan(b * size, size), type);
                    int sumi = 0;
                    for (int e = 0; e < Block; e++)
                    {
                        sumi += wb.Codes[e] * a[b].Codes[e];
                    }
                    // Q5_1 (asymmetric) adds m · s, s the q8_1 block sum; the symmetric formats have m = 0.
                    double term = ((double)wb.D * a[b].D * sumi) + ((double)wb.M * a[b].S);
                    y[(r * N) + j] += term;
                    magnitude[(r * N) + j] += Math.Abs(term);
                }
            }
        }
        return (y, magnitude);
    }

    private readonly record struct ActivationBlock(float D, float S, int[] Codes);

    private readonly record struct WeightBlock(float D, float M, int[] Codes);

    // quantize_row_q8_0 / q8_1, AVX2 path: d = max / 127 as float16, codes round(x · (127 / max)) to nearest even,
    // s = float16(d · Σ codes) with the float32 d.
    private static ActivationBlock QuantizeQ8(ReadOnlySpan<float> x)
    {
        float max = 0;
        foreach (float v in x)
        {
            max = MathF.Max(max, MathF.Abs(v));
        }
        float d = max / 127f;
        float id = max != 0f ? 127f / max : 0f;
        var codes = new int[Block];
        for (int e = 0; e < Block; e++)
        {
            codes[e] = (int)MathF.Round(x[e] * id, MidpointRounding.ToEven);
        }
        return new ActivationBlock((float)(Half)d, (float)(Half)(d * codes.Sum()), codes);
    }

    // The codes of one Q8_0 (d, 32 int8), Q4_0 (d, 16 bytes of nibbles: element e low, e + 16 high, minus 8) or Q5_1
    // (d, m, 32 high bits, nibbles as Q4_0 without the offset) block, as ggml's dot kernels unpack them.
    private static WeightBlock ReadWeightBlock(ReadOnlySpan<byte> block, TensorDType type)
    {
        float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
        var codes = new int[Block];
        switch (type)
        {
            case TensorDType.Q8_0:
                for (int e = 0; e < Block; e++)
                {
                    codes[e] = (sbyte)block[2 + e];
                }
                return new WeightBlock(d, 0, codes);
            case TensorDType.Q4_0:
                for (int e = 0; e < Block / 2; e++)
                {
                    codes[e] = (block[2 + e] & 0x0F) - 8;
                    codes[e + 16] = (block[2 + e] >> 4) - 8;
                }
                return new WeightBlock(d, 0, codes);
            default:
                float m = (float)BinaryPrimitives.ReadHalfLittleEndian(block[2..]);
                uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block[4..]);
                for (int e = 0; e < Block / 2; e++)
                {
                    codes[e] = (block[8 + e] & 0x0F) | (int)(((qh >> e) & 1) << 4);
                    codes[e + 16] = (block[8 + e] >> 4) | (int)(((qh >> (e + 16)) & 1) << 4);
                }
                return new WeightBlock(d, m, codes);
        }
    }

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
