using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Tests.Fixtures;

/// <summary>
/// Seeded random checkpoints for shapes the shared fixtures lack (several heads, odd vocabularies,
/// unequal LoRA ranks). Weights are scaled so activations stay near unit size and the logits vary;
/// the models are numerically interesting, not trained. Nothing is downloaded.
/// </summary>
internal static partial class TinyCheckpoints
{
    private static readonly string[] s_mixNames = ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g"];

    // rwkv.cpp's converter keeps these FP32 in FP16 files (as it does every 1-D tensor).
    private static readonly string[] s_float32Markers = [".time_", ".k_k", ".k_a", ".r_k", ".x_rwkvag", ".x_k", ".w0", ".a0", ".v0"];

    /// <summary>
    /// Writes a random RWKV-7 model in rwkv.cpp's layout, as its converter would have written it from
    /// a BlinkDL state dict: <c>att.x_r..x_g</c> concatenated into <c>att.x_rwkvag</c> <c>[6, 1, C]</c>
    /// (order r, w, k, v, a, g), LoRA matrices transposed (<c>w1 a1 v1 g1</c> stored <c>[D, C]</c>,
    /// <c>w2 a2 v2 g2</c> stored <c>[C, D]</c>), no <c>v0/v1/v2</c> in layer 0, everything else unchanged.
    /// </summary>
    /// <param name="path">The <c>.bin</c> file to create.</param>
    /// <param name="layers">Number of blocks.</param>
    /// <param name="embd">Width C; a multiple of <paramref name="headSize"/>.</param>
    /// <param name="headSize">Head size N (heads H = C / N).</param>
    /// <param name="vocab">Vocabulary size V.</param>
    /// <param name="ffn">Channel-mix hidden width F.</param>
    /// <param name="loraW">Rank of the decay LoRA (<c>w1/w2</c>).</param>
    /// <param name="loraA">Rank of the in-context learning-rate LoRA (<c>a1/a2</c>).</param>
    /// <param name="loraV">Rank of the value-residual LoRA (<c>v1/v2</c>).</param>
    /// <param name="loraG">Rank of the gate LoRA (<c>g1/g2</c>).</param>
    /// <param name="seed">Seed of the random weights: the same seed writes the same file.</param>
    /// <param name="weightType">
    /// Float32, or Float16 to store the tensors rwkv.cpp's converter makes FP16 (all 2-D and 3-D tensors
    /// except <c>x_rwkvag</c>, <c>w0 a0 v0 k_k k_a r_k</c> and <c>ffn.x_k</c>) in half precision.
    /// </param>
    /// <returns>
    /// The canonical tensors (BlinkDL names and shapes, in state-dict order) that
    /// <see cref="RwkvCheckpoint.Open"/> should read back; half-precision tensors hold their rounded values.
    /// </returns>
    public static IReadOnlyList<CanonicalTensor> WriteRwkv7(
        string path, int layers, int embd, int headSize, int vocab, int ffn,
        int loraW, int loraA, int loraV, int loraG, int seed, TensorDType weightType = TensorDType.Float32)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headSize);
        if (embd <= 0 || embd % headSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(embd), embd, $"The width must be a positive multiple of the head size {headSize}.");
        }
        if (weightType is not (TensorDType.Float32 or TensorDType.Float16))
        {
            throw new ArgumentOutOfRangeException(nameof(weightType), weightType, "rwkv.cpp files hold FP32 or FP16 here.");
        }

        List<CanonicalTensor> canonical = CreateRwkv7(layers, embd, headSize, vocab, ffn, loraW, loraA, loraV, loraG, new Random(seed));
        var records = new List<RwkvCppWriter.Tensor>();
        foreach (CanonicalTensor tensor in canonical)
        {
            RwkvCppWriter.Tensor? record = ToRwkvCpp(tensor, canonical);
            if (record is null)
            {
                continue; // x_w..x_g: already inside x_rwkvag
            }
            if (weightType == TensorDType.Float16 && IsStoredAsFloat16(record))
            {
                record = record with { DType = TensorDType.Float16 };
            }
            records.Add(record);
        }
        RwkvCppWriter.Write(path, vocab, embd, layers, weightType, records);

        // What a reader sees: the values as stored, so FP16 tensors come back rounded.
        var half = new HashSet<string>(records.Where(r => r.DType == TensorDType.Float16).Select(r => r.Name), StringComparer.Ordinal);
        return canonical
            .Select(t => half.Contains(t.Name) ? t with { Data = Array.ConvertAll(t.Data, v => (float)(Half)v) } : t)
            .ToList();
    }

    /// <summary>The model's tensors in BlinkDL's layout and state-dict order (that of the 7v0 fixture).</summary>
    private static List<CanonicalTensor> CreateRwkv7(
        int layers, int c, int headSize, int vocab, int ffn, int loraW, int loraA, int loraV, int loraG, Random random)
    {
        var tensors = new List<CanonicalTensor>();
        float matrixScale = 1 / MathF.Sqrt(c);
        void Add(string name, long[] shape, Func<float> value)
        {
            long count = shape.Aggregate(1L, (p, d) => p * d);
            var data = new float[count];
            for (long i = 0; i < count; i++)
            {
                data[i] = value();
            }
            tensors.Add(new CanonicalTensor(name, shape, data));
        }
        float Normal(float std) => std * Gaussian(random);
        float Uniform(float low, float high) => low + (high - low) * (float)random.NextDouble();
        void LayerNorm(string prefix)
        {
            Add(prefix + ".weight", [c], () => 1 + Normal(0.1f));
            Add(prefix + ".bias", [c], () => Normal(0.1f));
        }
        void Lora(string prefix, char letter, int rank, float upScale)
        {
            Add($"{prefix}{letter}1", [c, rank], () => Normal(matrixScale));
            Add($"{prefix}{letter}2", [rank, c], () => Normal(upScale / MathF.Sqrt(rank)));
        }

        Add("emb.weight", [vocab, c], () => Normal(1));
        for (int i = 0; i < layers; i++)
        {
            string b = $"blocks.{i}.";
            LayerNorm(b + "ln1");
            LayerNorm(b + "ln2");
            if (i == 0)
            {
                LayerNorm(b + "ln0");
            }
            string att = b + "att.";
            foreach (string mix in s_mixNames)
            {
                Add(att + mix, [1, 1, c], () => Uniform(0, 1));
            }
            Lora(att, 'w', loraW, 1);
            Add(att + "w0", [1, 1, c], () => Uniform(-1, 1));
            Lora(att, 'a', loraA, 1);
            Add(att + "a0", [1, 1, c], () => Normal(0.2f));
            if (i > 0)
            {
                Lora(att, 'v', loraV, 1);
                Add(att + "v0", [1, 1, c], () => Normal(0.5f));
            }
            Lora(att, 'g', loraG, 1);
            Add(att + "k_k", [1, 1, c], () => 1 + Normal(0.1f));
            Add(att + "k_a", [1, 1, c], () => 1 + Normal(0.1f));
            Add(att + "r_k", [c / headSize, headSize], () => Normal(0.1f));
            foreach (string linear in (string[])["receptance", "key", "value", "output"])
            {
                Add($"{att}{linear}.weight", [c, c], () => Normal(matrixScale));
            }
            LayerNorm(att + "ln_x");
            Add(b + "ffn.x_k", [1, 1, c], () => Uniform(0, 1));
            Add(b + "ffn.key.weight", [ffn, c], () => Normal(matrixScale));
            Add(b + "ffn.value.weight", [c, ffn], () => Normal(1 / MathF.Sqrt(ffn)));
        }
        LayerNorm("ln_out");
        Add("head.weight", [vocab, c], () => Normal(matrixScale));
        return tensors;
    }

    /// <summary>
    /// The rwkv.cpp record for a canonical tensor: <c>x_r</c> becomes <c>x_rwkvag</c> (the other five mix
    /// vectors return null), LoRA matrices are transposed, the rest is unchanged.
    /// </summary>
    private static RwkvCppWriter.Tensor? ToRwkvCpp(CanonicalTensor tensor, List<CanonicalTensor> all)
    {
        int[] shape = tensor.Shape.Select(d => (int)d).ToArray();
        string suffix = tensor.Name[(tensor.Name.LastIndexOf('.') + 1)..];
        bool isAttention = tensor.Name.Contains(".att.", StringComparison.Ordinal);
        if (isAttention && suffix == "x_r")
        {
            string prefix = tensor.Name[..^"x_r".Length];
            float[] concatenated = s_mixNames
                .SelectMany(mix => all.Single(t => t.Name == prefix + mix).Data)
                .ToArray();
            return new RwkvCppWriter.Tensor(prefix + "x_rwkvag", [6, 1, shape[2]], concatenated);
        }
        if (isAttention && suffix is "x_w" or "x_k" or "x_v" or "x_a" or "x_g")
        {
            return null;
        }
        if (isAttention && suffix is "w1" or "a1" or "v1" or "g1" or "w2" or "a2" or "v2" or "g2")
        {
            return new RwkvCppWriter.Tensor(tensor.Name, [shape[1], shape[0]], Transpose(tensor.Data, shape[0], shape[1]));
        }
        return new RwkvCppWriter.Tensor(tensor.Name, shape, tensor.Data);
    }

    private static bool IsStoredAsFloat16(RwkvCppWriter.Tensor record) =>
        record.Shape.Length > 1 && !s_float32Markers.Any(marker => record.Name.Contains(marker, StringComparison.Ordinal));

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

    /// <summary>A tensor in canonical layout: BlinkDL name, PyTorch shape (outermost first), row-major values.</summary>
    internal sealed record CanonicalTensor(string Name, long[] Shape, float[] Data);
}
