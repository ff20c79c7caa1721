using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Export.RandomCheckpoints;

/// <summary>
/// Seeded random checkpoints in rwkv.cpp's <c>.bin</c> layout, for tests (shapes the shared fixtures lack:
/// several heads, odd vocabularies, unequal LoRA ranks) and for benchmarks (real shapes without a download).
/// Weights are scaled so activations stay near unit size and the logits vary; the models are numerically
/// interesting, not trained.
/// </summary>
/// <remarks>
/// Generation streams: tensors are drawn one at a time in state-dict order from one <see cref="Random"/>
/// and written as they are drawn, so the peak memory is about one tensor (the embedding), not the model.
/// The same arguments and seed write the same bytes. A caller that wants the canonical tensors back (small
/// models, tests) passes a <c>written</c> collection; FP16-stored tensors are added with their rounded values.
/// </remarks>
internal static partial class RandomCheckpoint
{
    private static void RequireWidth(int embd, int headSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headSize);
        if (embd <= 0 || embd % headSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(embd), embd, $"The width must be a positive multiple of the head size {headSize}.");
        }
    }

    private static void RequireFileType(TensorDType weightType)
    {
        if (weightType is not (TensorDType.Float32 or TensorDType.Float16))
        {
            throw new ArgumentOutOfRangeException(nameof(weightType), weightType, "rwkv.cpp files hold FP32 or FP16 here.");
        }
    }

    // Tensors written and dropped are large-object garbage, which the GC only frees in a full collection; left to
    // its own budget it let a 5.7 GiB model peak at 2.4 GB. Collecting after every 256 MiB drawn bounds the peak to
    // about that plus the largest tensor.
    private const long CollectEveryBytes = 256L << 20;

    [ThreadStatic]
    private static long s_bytesSinceCollect;

    /// <summary>A tensor of <paramref name="shape"/> filled in row-major order by <paramref name="value"/>.</summary>
    private static CanonicalTensor Fill(string name, long[] shape, Func<float> value)
    {
        long count = shape.Aggregate(1L, (p, d) => p * d);
        s_bytesSinceCollect += count * sizeof(float);
        if (s_bytesSinceCollect > CollectEveryBytes)
        {
            s_bytesSinceCollect = count * sizeof(float);
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        var data = new float[count];
        for (long i = 0; i < count; i++)
        {
            data[i] = value();
        }
        return new CanonicalTensor(name, shape, data);
    }

    private static float Normal(Random random, float std) => std * Gaussian(random);

    private static float Uniform(Random random, float low, float high) => low + (high - low) * (float)random.NextDouble();

    /// <summary>A layer norm's weight (about 1) then bias (about 0).</summary>
    private static IEnumerable<CanonicalTensor> LayerNorm(Random random, string prefix, int c)
    {
        yield return Fill(prefix + ".weight", [c], () => 1 + Normal(random, 0.1f));
        yield return Fill(prefix + ".bias", [c], () => Normal(random, 0.1f));
    }

    /// <summary>
    /// Adds <paramref name="tensor"/> to <paramref name="written"/> as a reader sees it: rounded to half
    /// precision when <paramref name="record"/> is stored FP16.
    /// </summary>
    private static void Record(ICollection<CanonicalTensor>? written, CanonicalTensor tensor, RwkvCppWriter.Tensor record) =>
        written?.Add(record.DType == TensorDType.Float16 ? tensor with { Data = Array.ConvertAll(tensor.Data, v => (float)(Half)v) } : tensor);

    private static float[] Transpose(float[] data, int rows, int cols)
    {
        var result = new float[data.Length];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                result[j * rows + i] = data[i * cols + j];
            }
        }
        return result;
    }

    // Box-Muller: one standard normal sample from two uniforms.
    private static float Gaussian(Random random)
    {
        double u1 = 1 - random.NextDouble(); // (0, 1]: log stays finite
        double u2 = random.NextDouble();
        return (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }
}
