using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Tests.Fixtures;

internal static partial class TinyCheckpoints
{
    private static readonly string[] s_v6MixNames = ["time_maa_x", "time_maa_w", "time_maa_k", "time_maa_v", "time_maa_r", "time_maa_g"];

    /// <summary>
    /// Writes a random RWKV-6 model in rwkv.cpp's layout, as its converter would have written it from a
    /// BlinkDL state dict (fixtures README, "What the converter does to each tensor"): every <c>.time_</c>
    /// tensor squeezed (<c>time_maa_*</c> <c>[1, 1, C]</c> to <c>[C]</c>), <c>time_maa_w1</c> <c>[C, 5·Dm]</c>
    /// stored transposed <c>[5·Dm, C]</c>, <c>time_maa_w2</c> <c>[5, Dm, C]</c> stored <c>[5, C, Dm]</c>,
    /// <c>time_decay</c> <c>[1, 1, C]</c> stored <c>[H, N, 1]</c> (no exp transform), <c>time_decay_w1</c>
    /// <c>[C, Dw]</c> stored <c>[Dw, C]</c>, <c>time_decay_w2</c> <c>[Dw, C]</c> stored <c>[C, Dw]</c>,
    /// <c>time_faaaa</c> <c>[H, N]</c> stored <c>[H, N, 1]</c>; everything else unchanged.
    /// </summary>
    /// <remarks>
    /// Pick <paramref name="loraMix"/>, <paramref name="loraDecay"/> and <paramref name="embd"/> all different:
    /// the 6v0-1m fixture has Dw = C, where a forgotten transposition still has the right shape.
    /// </remarks>
    /// <param name="path">The <c>.bin</c> file to create.</param>
    /// <param name="layers">Number of blocks.</param>
    /// <param name="embd">Width C; a multiple of <paramref name="headSize"/>.</param>
    /// <param name="headSize">Head size N (heads H = C / N).</param>
    /// <param name="vocab">Vocabulary size V.</param>
    /// <param name="ffn">Channel-mix hidden width F.</param>
    /// <param name="loraMix">Rank Dm of each of the five token-shift LoRAs (<c>time_maa_w1/w2</c>).</param>
    /// <param name="loraDecay">Rank Dw of the decay LoRA (<c>time_decay_w1/w2</c>).</param>
    /// <param name="seed">Seed of the random weights: the same seed writes the same file.</param>
    /// <param name="weightType">
    /// Float32, or Float16 to store the tensors rwkv.cpp's converter makes FP16 (the 2-D tensors without
    /// <c>.time_</c> in their name: <c>emb</c>, <c>head</c> and the projection matrices) in half precision.
    /// </param>
    /// <returns>
    /// The canonical tensors (BlinkDL names and shapes, in state-dict order) that
    /// <see cref="RwkvCheckpoint.Open"/> should read back; half-precision tensors hold their rounded values.
    /// </returns>
    public static IReadOnlyList<CanonicalTensor> WriteRwkv6(
        string path, int layers, int embd, int headSize, int vocab, int ffn,
        int loraMix, int loraDecay, int seed, TensorDType weightType = TensorDType.Float32)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(loraMix);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(loraDecay);
        if (embd <= 0 || embd % headSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(embd), embd, $"The width must be a positive multiple of the head size {headSize}.");
        }
        if (embd / headSize < 2)
        {
            // With one head rwkv.cpp's squeeze would also drop the head axis of time_faaaa/time_decay.
            throw new ArgumentOutOfRangeException(nameof(headSize), headSize, $"Use at least two heads (width {embd}).");
        }
        if (weightType is not (TensorDType.Float32 or TensorDType.Float16))
        {
            throw new ArgumentOutOfRangeException(nameof(weightType), weightType, "rwkv.cpp files hold FP32 or FP16 here.");
        }

        List<CanonicalTensor> canonical = CreateRwkv6(layers, embd, headSize, vocab, ffn, loraMix, loraDecay, new Random(seed));
        var records = new List<RwkvCppWriter.Tensor>();
        foreach (CanonicalTensor tensor in canonical)
        {
            RwkvCppWriter.Tensor record = ToRwkvCppV6(tensor, headSize);
            if (weightType == TensorDType.Float16 && IsStoredAsFloat16(record))
            {
                record = record with { DType = TensorDType.Float16 };
            }
            records.Add(record);
        }
        RwkvCppWriter.Write(path, vocab, embd, layers, weightType, records);

        var half = new HashSet<string>(records.Where(r => r.DType == TensorDType.Float16).Select(r => r.Name), StringComparer.Ordinal);
        return canonical
            .Select(t => half.Contains(t.Name) ? t with { Data = Array.ConvertAll(t.Data, v => (float)(Half)v) } : t)
            .ToList();
    }

    /// <summary>The model's tensors in BlinkDL's layout and state-dict order (that of the 6v0-1m fixture).</summary>
    private static List<CanonicalTensor> CreateRwkv6(int layers, int c, int headSize, int vocab, int ffn, int loraMix, int loraDecay, Random random)
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
            foreach (string mix in s_v6MixNames)
            {
                Add(att + mix, [1, 1, c], () => Uniform(0, 1));
            }
            // Mixes of order one, so a wrong slot order or a wrong w2 layout moves the logits.
            Add(att + "time_maa_w1", [c, 5 * loraMix], () => Normal(matrixScale));
            Add(att + "time_maa_w2", [5, loraMix, c], () => Normal(1 / MathF.Sqrt(loraMix)));
            // Base decays exp(-exp(w)) between exp(-1) and exp(-exp(-4)) = 0.98, moved by the LoRA.
            Add(att + "time_decay", [1, 1, c], () => Uniform(-4, 0));
            Add(att + "time_decay_w1", [c, loraDecay], () => Normal(matrixScale));
            Add(att + "time_decay_w2", [loraDecay, c], () => Normal(0.5f / MathF.Sqrt(loraDecay)));
            Add(att + "time_faaaa", [c / headSize, headSize], () => Normal(0.5f));
            foreach (string linear in (string[])["receptance", "key", "value", "output", "gate"])
            {
                Add($"{att}{linear}.weight", [c, c], () => Normal(matrixScale));
            }
            LayerNorm(att + "ln_x");
            Add(b + "ffn.time_maa_k", [1, 1, c], () => Uniform(0, 1));
            Add(b + "ffn.time_maa_r", [1, 1, c], () => Uniform(0, 1));
            Add(b + "ffn.key.weight", [ffn, c], () => Normal(matrixScale));
            Add(b + "ffn.receptance.weight", [c, c], () => Normal(matrixScale));
            Add(b + "ffn.value.weight", [c, ffn], () => Normal(1 / MathF.Sqrt(ffn)));
        }
        LayerNorm("ln_out");
        Add("head.weight", [vocab, c], () => Normal(matrixScale));
        return tensors;
    }

    /// <summary>The rwkv.cpp record for a canonical RWKV-6 tensor (the converter's steps, listed on <see cref="WriteRwkv6"/>).</summary>
    private static RwkvCppWriter.Tensor ToRwkvCppV6(CanonicalTensor tensor, int headSize)
    {
        int[] shape = tensor.Shape.Select(d => (int)d).ToArray();
        string leaf = tensor.Name[(tensor.Name.LastIndexOf('.') + 1)..];
        switch (leaf)
        {
            case "time_maa_w1" or "time_decay_w1" or "time_decay_w2":
                return new RwkvCppWriter.Tensor(tensor.Name, [shape[1], shape[0]], Transpose(tensor.Data, shape[0], shape[1]));
            case "time_maa_w2":
                {
                    int slots = shape[0], rows = shape[1], cols = shape[2];
                    var swapped = new float[tensor.Data.Length];
                    for (int s = 0; s < slots; s++)
                    {
                        Transpose(tensor.Data.AsSpan(s * rows * cols, rows * cols).ToArray(), rows, cols).CopyTo(swapped, s * rows * cols);
                    }
                    return new RwkvCppWriter.Tensor(tensor.Name, [slots, cols, rows], swapped);
                }
            case "time_decay":
                return new RwkvCppWriter.Tensor(tensor.Name, [shape[2] / headSize, headSize, 1], tensor.Data);
            case "time_faaaa":
                return new RwkvCppWriter.Tensor(tensor.Name, [shape[0], shape[1], 1], tensor.Data);
            case var _ when leaf.StartsWith("time_maa_", StringComparison.Ordinal):
                return new RwkvCppWriter.Tensor(tensor.Name, [shape[^1]], tensor.Data); // [1, 1, C] squeezed
            default:
                return new RwkvCppWriter.Tensor(tensor.Name, shape, tensor.Data);
        }
    }
}
