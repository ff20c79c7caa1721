using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Export.RandomCheckpoints;

internal static partial class RandomCheckpoint
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
    /// <param name="written">
    /// When not null, receives the canonical tensors (BlinkDL names and shapes, in state-dict order) that
    /// <see cref="RwkvCheckpoint.Open"/> should read back; half-precision tensors hold their rounded values.
    /// </param>
    public static void WriteRwkv6(
        string path, int layers, int embd, int headSize, int vocab, int ffn,
        int loraMix, int loraDecay, int seed, TensorDType weightType = TensorDType.Float32,
        ICollection<CanonicalTensor>? written = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(loraMix);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(loraDecay);
        RequireWidth(embd, headSize);
        if (embd / headSize < 2)
        {
            // With one head rwkv.cpp's squeeze would also drop the head axis of time_faaaa/time_decay.
            throw new ArgumentOutOfRangeException(nameof(headSize), headSize, $"Use at least two heads (width {embd}).");
        }
        RequireFileType(weightType);

        IEnumerable<CanonicalTensor> canonical = CreateRwkv6(layers, embd, headSize, vocab, ffn, loraMix, loraDecay, new Random(seed));
        RwkvCppWriter.Write(path, vocab, embd, layers, weightType, canonical.Select(tensor =>
        {
            RwkvCppWriter.Tensor record = ToRwkvCppV6(tensor, headSize);
            if (weightType == TensorDType.Float16 && IsStoredAsFloat16(record))
            {
                record = record with { DType = TensorDType.Float16 };
            }
            Record(written, tensor, record);
            return record;
        }));
    }

    /// <summary>The model's tensors in BlinkDL's layout and state-dict order (that of the 6v0-1m fixture), drawn lazily.</summary>
    private static IEnumerable<CanonicalTensor> CreateRwkv6(int layers, int c, int headSize, int vocab, int ffn, int loraMix, int loraDecay, Random random)
    {
        float matrixScale = 1 / MathF.Sqrt(c);
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
            foreach (string mix in s_v6MixNames)
            {
                yield return Fill(att + mix, [1, 1, c], () => Uniform(random, 0, 1));
            }
            // Mixes of order one, so a wrong slot order or a wrong w2 layout moves the logits.
            yield return Fill(att + "time_maa_w1", [c, 5 * loraMix], () => Normal(random, matrixScale));
            yield return Fill(att + "time_maa_w2", [5, loraMix, c], () => Normal(random, 1 / MathF.Sqrt(loraMix)));
            // Base decays exp(-exp(w)) between exp(-1) and exp(-exp(-4)) = 0.98, moved by the LoRA.
            yield return Fill(att + "time_decay", [1, 1, c], () => Uniform(random, -4, 0));
            yield return Fill(att + "time_decay_w1", [c, loraDecay], () => Normal(random, matrixScale));
            yield return Fill(att + "time_decay_w2", [loraDecay, c], () => Normal(random, 0.5f / MathF.Sqrt(loraDecay)));
            yield return Fill(att + "time_faaaa", [c / headSize, headSize], () => Normal(random, 0.5f));
            foreach (string linear in (string[])["receptance", "key", "value", "output", "gate"])
            {
                yield return Fill($"{att}{linear}.weight", [c, c], () => Normal(random, matrixScale));
            }
            foreach (CanonicalTensor t in LayerNorm(random, att + "ln_x", c))
            {
                yield return t;
            }
            yield return Fill(b + "ffn.time_maa_k", [1, 1, c], () => Uniform(random, 0, 1));
            yield return Fill(b + "ffn.time_maa_r", [1, 1, c], () => Uniform(random, 0, 1));
            yield return Fill(b + "ffn.key.weight", [ffn, c], () => Normal(random, matrixScale));
            yield return Fill(b + "ffn.receptance.weight", [c, c], () => Normal(random, matrixScale));
            yield return Fill(b + "ffn.value.weight", [c, ffn], () => Normal(random, 1 / MathF.Sqrt(ffn)));
        }
        foreach (CanonicalTensor t in LayerNorm(random, "ln_out", c))
        {
            yield return t;
        }
        yield return Fill("head.weight", [vocab, c], () => Normal(random, matrixScale));
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
