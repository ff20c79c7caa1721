using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Export.RandomCheckpoints;

internal static partial class RandomCheckpoint
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
    /// <param name="written">
    /// When not null, receives the canonical tensors (BlinkDL names and shapes, in state-dict order) that
    /// <see cref="RwkvCheckpoint.Open"/> should read back; half-precision tensors hold their rounded values.
    /// </param>
    public static void WriteRwkv7(
        string path, int layers, int embd, int headSize, int vocab, int ffn,
        int loraW, int loraA, int loraV, int loraG, int seed, TensorDType weightType = TensorDType.Float32,
        ICollection<CanonicalTensor>? written = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        RequireWidth(embd, headSize);
        RequireFileType(weightType);
        IEnumerable<CanonicalTensor> canonical = CreateRwkv7(layers, embd, headSize, vocab, ffn, loraW, loraA, loraV, loraG, new Random(seed));
        RwkvCppWriter.Write(path, vocab, embd, layers, weightType, ToRwkvCppV7(canonical, weightType, written));
    }

    /// <summary>
    /// RWKV-7's LoRA ranks at width <paramref name="embd"/>, by BlinkDL's training-code formulas
    /// (<c>max(32, round(k·C^p / 32)·32)</c>): decay and learning rate 1.8·√C, value 1.3·√C, gate 0.6·C^0.8.
    /// </summary>
    public static (int W, int A, int V, int G) Rwkv7LoraRanks(int embd)
    {
        static int Rank(double size) => Math.Max(32, (int)Math.Round(size / 32, MidpointRounding.ToEven) * 32);
        double root = Math.Sqrt(embd);
        return (Rank(1.8 * root), Rank(1.8 * root), Rank(1.3 * root), Rank(0.6 * Math.Pow(embd, 0.8)));
    }

    /// <summary>The model's tensors in BlinkDL's layout and state-dict order (that of the 7v0 fixture), drawn lazily.</summary>
    private static IEnumerable<CanonicalTensor> CreateRwkv7(
        int layers, int c, int headSize, int vocab, int ffn, int loraW, int loraA, int loraV, int loraG, Random random)
    {
        float matrixScale = 1 / MathF.Sqrt(c);
        IEnumerable<CanonicalTensor> Lora(string prefix, char letter, int rank)
        {
            yield return Fill($"{prefix}{letter}1", [c, rank], () => Normal(random, matrixScale));
            yield return Fill($"{prefix}{letter}2", [rank, c], () => Normal(random, 1 / MathF.Sqrt(rank)));
        }

        yield return Fill("emb.weight", [vocab, c], () => Normal(random, 1));
        for (int i = 0; i < layers; i++)
        {
            string b = $"blocks.{i}.";
            foreach (CanonicalTensor t in LayerNorm(random, b + "ln1", c).Concat(LayerNorm(random, b + "ln2", c)))
            {
                yield return t;
            }
            if (i == 0)
            {
                foreach (CanonicalTensor t in LayerNorm(random, b + "ln0", c))
                {
                    yield return t;
                }
            }
            string att = b + "att.";
            foreach (string mix in s_mixNames)
            {
                yield return Fill(att + mix, [1, 1, c], () => Uniform(random, 0, 1));
            }
            foreach (CanonicalTensor t in Lora(att, 'w', loraW))
            {
                yield return t;
            }
            yield return Fill(att + "w0", [1, 1, c], () => Uniform(random, -1, 1));
            foreach (CanonicalTensor t in Lora(att, 'a', loraA))
            {
                yield return t;
            }
            yield return Fill(att + "a0", [1, 1, c], () => Normal(random, 0.2f));
            if (i > 0)
            {
                foreach (CanonicalTensor t in Lora(att, 'v', loraV))
                {
                    yield return t;
                }
                yield return Fill(att + "v0", [1, 1, c], () => Normal(random, 0.5f));
            }
            foreach (CanonicalTensor t in Lora(att, 'g', loraG))
            {
                yield return t;
            }
            yield return Fill(att + "k_k", [1, 1, c], () => 1 + Normal(random, 0.1f));
            yield return Fill(att + "k_a", [1, 1, c], () => 1 + Normal(random, 0.1f));
            yield return Fill(att + "r_k", [c / headSize, headSize], () => Normal(random, 0.1f));
            foreach (string linear in (string[])["receptance", "key", "value", "output"])
            {
                yield return Fill($"{att}{linear}.weight", [c, c], () => Normal(random, matrixScale));
            }
            foreach (CanonicalTensor t in LayerNorm(random, att + "ln_x", c))
            {
                yield return t;
            }
            yield return Fill(b + "ffn.x_k", [1, 1, c], () => Uniform(random, 0, 1));
            yield return Fill(b + "ffn.key.weight", [ffn, c], () => Normal(random, matrixScale));
            yield return Fill(b + "ffn.value.weight", [c, ffn], () => Normal(random, 1 / MathF.Sqrt(ffn)));
        }
        foreach (CanonicalTensor t in LayerNorm(random, "ln_out", c))
        {
            yield return t;
        }
        yield return Fill("head.weight", [vocab, c], () => Normal(random, matrixScale));
    }

    /// <summary>
    /// The rwkv.cpp records for canonical tensors, one at a time: the six mix vectors <c>x_r..x_g</c> (consecutive
    /// in the state dict) become one <c>x_rwkvag</c>, LoRA matrices are transposed, the rest is unchanged.
    /// </summary>
    private static IEnumerable<RwkvCppWriter.Tensor> ToRwkvCppV7(
        IEnumerable<CanonicalTensor> canonical, TensorDType weightType, ICollection<CanonicalTensor>? written)
    {
        var mixes = new List<CanonicalTensor>(s_mixNames.Length);
        foreach (CanonicalTensor tensor in canonical)
        {
            int[] shape = tensor.Shape.Select(d => (int)d).ToArray();
            string suffix = tensor.Name[(tensor.Name.LastIndexOf('.') + 1)..];
            bool isAttention = tensor.Name.Contains(".att.", StringComparison.Ordinal);
            if (isAttention && s_mixNames.Contains(suffix))
            {
                mixes.Add(tensor);
                written?.Add(tensor); // x_rwkvag stays FP32
                if (mixes.Count == s_mixNames.Length)
                {
                    string prefix = tensor.Name[..^suffix.Length];
                    float[] concatenated = s_mixNames
                        .SelectMany(mix => mixes.Single(t => t.Name == prefix + mix).Data)
                        .ToArray();
                    yield return new RwkvCppWriter.Tensor(prefix + "x_rwkvag", [6, 1, shape[2]], concatenated);
                    mixes.Clear();
                }
                continue;
            }
            RwkvCppWriter.Tensor record = isAttention && suffix is "w1" or "a1" or "v1" or "g1" or "w2" or "a2" or "v2" or "g2"
                ? new RwkvCppWriter.Tensor(tensor.Name, [shape[1], shape[0]], Transpose(tensor.Data, shape[0], shape[1]))
                : new RwkvCppWriter.Tensor(tensor.Name, shape, tensor.Data);
            if (weightType == TensorDType.Float16 && IsStoredAsFloat16(record))
            {
                record = record with { DType = TensorDType.Float16 };
            }
            Record(written, tensor, record);
            yield return record;
        }
    }

    private static bool IsStoredAsFloat16(RwkvCppWriter.Tensor record) =>
        record.Shape.Length > 1 && !s_float32Markers.Any(marker => record.Name.Contains(marker, StringComparison.Ordinal));
}
